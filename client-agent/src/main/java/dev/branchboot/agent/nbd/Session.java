package dev.branchboot.agent.nbd;

/**
 * What a client negotiated during the handshake, fixed for the transmission phase.
 *
 * @param structuredReplies whether NBD_OPT_STRUCTURED_REPLY was acknowledged
 * @param baseAllocation    whether base:allocation was selected for the export that was opened
 * @param flags             the transmission flags sent to the client
 */
record Session(boolean structuredReplies, boolean baseAllocation, int flags) {
}
