package dev.branchboot.agent.http;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A test server that answers each HTTP request with whatever bytes a script returns for it, so a
 * test can send what no real server library would: interim responses, malformed framing, control
 * bytes. Connections are kept open for further requests until the script returns null. Binds
 * 127.0.0.1 only.
 */
final class ScriptedHttpServer implements AutoCloseable {
    private final ServerSocket listener;
    private final Function<String, byte[]> script;
    /** Every request head received, in order. */
    final Queue<String> requests = new ConcurrentLinkedQueue<>();
    final AtomicInteger connections = new AtomicInteger();

    /** A server answering each request head (request line and headers) with {@code script}'s bytes. */
    ScriptedHttpServer(Function<String, byte[]> script) throws IOException {
        this.script = script;
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread t = new Thread(this::accept, "scripted-http");
        t.setDaemon(true);
        t.start();
    }

    /** The text, with ISO-8859-1 bytes for chars up to 0xFF, as bytes. */
    static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.ISO_8859_1);
    }

    String base() {
        return "http://127.0.0.1:" + listener.getLocalPort() + "/images";
    }

    private void accept() {
        while (!listener.isClosed()) {
            try {
                Socket s = listener.accept();
                connections.incrementAndGet();
                Thread t = new Thread(() -> serve(s), "scripted-http-connection");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    private void serve(Socket s) {
        try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
            while (true) {
                String head = readHead(in);
                if (head == null) {
                    return;
                }
                requests.add(head);
                byte[] answer = script.apply(head);
                if (answer == null) {
                    return;
                }
                out.write(answer);
                out.flush();
            }
        } catch (IOException e) {
            // the client went away
        }
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        for (int b; (b = in.read()) >= 0; ) {
            head.write(b);
            matched = (b == "\r\n\r\n".charAt(matched)) ? matched + 1 : (b == '\r' ? 1 : 0);
            if (matched == 4) {
                return head.toString(StandardCharsets.ISO_8859_1);
            }
        }
        return null;
    }

    @Override
    public void close() throws IOException {
        listener.close();
    }
}
