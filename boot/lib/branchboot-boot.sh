# branchboot boot library (POSIX sh; sourced by the initramfs-tools script, the dracut module and
# the test's minimal initramfs). It reads the kernel command line and attaches the NBD root:
#
#   branchboot.server=URL[,URL...]  image servers' folders, in order of preference (required)
#   branchboot.image=NAME           the image's name in those folders (required)
#   branchboot.cow=ram[:SIZE]|file:PATH|none   the overlay for writes (default: ram)
#   branchboot.device=/dev/nbdN     the NBD device (default: /dev/nbd0)
#   branchboot.heap=SIZE            the agent's Java heap (-Xmx; default: 25% of RAM)
#   branchboot.log=console|FILE     where the agent logs (default: /run/branchboot/agent.log)
#   branchboot.opts=A,B,...         more agent options, commas for spaces (e.g. --retry-deadline,10m)
#   branchboot.trust=FILE           the publisher's Ed25519 public key in the initramfs (the hooks copy
#                                   /etc/branchboot/trust.pem): only bytes of a signed manifest are used
#
# Functions: branchboot_parse_cmdline, branchboot_attach (= branchboot_start, branchboot_go,
# branchboot_wait: a script that calls start before it brings the network up and go after lets the
# JVM start meanwhile). Variables: BRANCHBOOT_RUNTIME (the runtime's folder, default
# /usr/lib/branchboot), BRANCHBOOT_ATTACH_TIMEOUT (seconds, default 600).

branchboot_parse_cmdline() {
	BRANCHBOOT_SERVERS=""
	BRANCHBOOT_IMAGE=""
	BRANCHBOOT_COW="ram"
	BRANCHBOOT_DEVICE="/dev/nbd0"
	BRANCHBOOT_HEAP=""
	BRANCHBOOT_LOG="/run/branchboot/agent.log"
	BRANCHBOOT_OPTS=""
	BRANCHBOOT_TRUST=""
	for _bb_arg in $(cat "${1:-/proc/cmdline}"); do
		case "$_bb_arg" in
		branchboot.server=*) BRANCHBOOT_SERVERS="${_bb_arg#branchboot.server=}" ;;
		branchboot.image=*) BRANCHBOOT_IMAGE="${_bb_arg#branchboot.image=}" ;;
		branchboot.cow=*) BRANCHBOOT_COW="${_bb_arg#branchboot.cow=}" ;;
		branchboot.device=*) BRANCHBOOT_DEVICE="${_bb_arg#branchboot.device=}" ;;
		branchboot.heap=*) BRANCHBOOT_HEAP="${_bb_arg#branchboot.heap=}" ;;
		branchboot.log=*) BRANCHBOOT_LOG="${_bb_arg#branchboot.log=}" ;;
		branchboot.opts=*) BRANCHBOOT_OPTS="${_bb_arg#branchboot.opts=}" ;;
		branchboot.trust=*) BRANCHBOOT_TRUST="${_bb_arg#branchboot.trust=}" ;;
		esac
	done
	unset _bb_arg
	export BRANCHBOOT_HEAP
	[ -n "$BRANCHBOOT_SERVERS" ] && [ -n "$BRANCHBOOT_IMAGE" ]
}

# The agent's command line from the parsed parameters, one word per line.
branchboot_agent_args() {
	echo attach
	echo --device
	echo "$BRANCHBOOT_DEVICE"
	echo --image
	echo "$BRANCHBOOT_IMAGE"
	echo --cow
	echo "$BRANCHBOOT_COW"
	# The root disk's server must be the last thing the kernel kills when memory runs out.
	echo --oom-score-adj
	echo -1000
	if [ -n "$BRANCHBOOT_TRUST" ]; then
		echo --trust-key
		echo "$BRANCHBOOT_TRUST"
	fi
	_bb_ifs=$IFS
	IFS=,
	for _bb_s in $BRANCHBOOT_SERVERS; do
		echo --server
		echo "$_bb_s"
	done
	for _bb_s in $BRANCHBOOT_OPTS; do
		echo "$_bb_s"
	done
	IFS=$_bb_ifs
	unset _bb_s _bb_ifs
}

# Starts the agent in the background; it opens nothing until branchboot_go (attach --start-when),
# so this may run before the network is up: the JVM starts meanwhile. Needs the nbd module loaded.
# Sets BRANCHBOOT_PID and BRANCHBOOT_T_START (uptime seconds).
branchboot_start() {
	_bb_runtime="${BRANCHBOOT_RUNTIME:-/usr/lib/branchboot}"
	BRANCHBOOT_GO="/run/branchboot/${BRANCHBOOT_DEVICE#/dev/}.go"
	mkdir -p /run/branchboot
	rm -f "$BRANCHBOOT_GO"
	read -r BRANCHBOOT_T_START _bb_rest < /proc/uptime
	_bb_ifs=$IFS
	IFS='
'
	set -f
	# shellcheck disable=SC2046 # one argument per line, on purpose
	if [ "$BRANCHBOOT_LOG" = console ]; then
		"$_bb_runtime/bin/branchboot-agent" $(branchboot_agent_args) --start-when "$BRANCHBOOT_GO" </dev/null >/dev/console 2>&1 &
	else
		"$_bb_runtime/bin/branchboot-agent" $(branchboot_agent_args) --start-when "$BRANCHBOOT_GO" </dev/null >>"$BRANCHBOOT_LOG" 2>&1 &
	fi
	BRANCHBOOT_PID=$!
	set +f
	IFS=$_bb_ifs
	unset _bb_runtime _bb_ifs _bb_rest
}

# Tells the agent branchboot_start started that the network is up: it opens the image now.
branchboot_go() {
	: > "$BRANCHBOOT_GO"
}

# Waits until the kernel has the device connected. Says so on stderr and sets
# BRANCHBOOT_T_CONNECTED (uptime seconds). Returns 1 on failure.
branchboot_wait() {
	_bb_dev="${BRANCHBOOT_DEVICE#/dev/}"
	_bb_waited=0
	while [ ! -e "/sys/block/$_bb_dev/pid" ]; do
		if ! kill -0 "$BRANCHBOOT_PID" 2>/dev/null; then
			echo "branchboot: the agent exited before $BRANCHBOOT_DEVICE was connected (log: $BRANCHBOOT_LOG)" >&2
			return 1
		fi
		if [ "$_bb_waited" -ge "$(( ${BRANCHBOOT_ATTACH_TIMEOUT:-600} * 10 ))" ]; then
			echo "branchboot: $BRANCHBOOT_DEVICE not connected after ${BRANCHBOOT_ATTACH_TIMEOUT:-600} s (log: $BRANCHBOOT_LOG)" >&2
			return 1
		fi
		sleep 0.1
		_bb_waited=$((_bb_waited + 1))
	done
	echo "$BRANCHBOOT_PID" > "/run/branchboot/agent.pid"
	read -r BRANCHBOOT_T_CONNECTED _bb_rest < /proc/uptime
	echo "branchboot: $BRANCHBOOT_DEVICE connected: agent pid $BRANCHBOOT_PID started at $BRANCHBOOT_T_START s, device connected at $BRANCHBOOT_T_CONNECTED s (uptime)" >&2
	unset _bb_dev _bb_waited _bb_rest
	return 0
}

# Starts the agent and waits until the kernel has the device connected (start, go, wait). Needs
# the network up and the nbd module loaded. Returns 1 on failure.
branchboot_attach() {
	branchboot_start
	branchboot_go
	branchboot_wait
}
