/*
 * ctlwatch: `toolhostctl watch`: the operators' stream (/v1/approvals/stream) on the terminal, over
 * the daemon's Unix socket with an lws client. One line per approval in the snapshot ("pending") and
 * per event after it (requested, resolved, expired, abandoned); with raw, each message as the JSON
 * it came as.
 */
#ifndef CLI_CTLWATCH_H
#define CLI_CTLWATCH_H

/* Runs until the daemon closes the stream, or until max_events events followed the snapshot (0: no
 * limit). 0 when it ended that way; 1 when the daemon refused the stream; 2 when it could not be
 * reached or sent what is not JSON. */
int ctlwatch_run(const char *sock, int raw, long max_events);

#endif
