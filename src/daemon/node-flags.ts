// The options vswitchd's node runs with. bin/vswitchd's first line carries the
// same (a unit test keeps them in step); whatever starts the daemon as
// `node bin/vswitchd` (the tests' Lab, the benchmark) passes these, and a
// restart passes its own on (restart.ts: process.execArgv).
//
// --max-semi-space-size=1: V8's young generation of the main thread held at
// 1 MiB semi-spaces. Left to grow (up to 16 MiB each), V8 enlarges it under a
// steady allocation rate and keeps the RSS: under a MAC storm with `stats`
// asked 50 times a second the main thread's new space went 8 → 16 MiB
// (issue 15: RSS within 10 MB of idle). With this and the datapath thread's
// own limit (handle.ts) the storm's peak went from 10-20 MB over idle to
// 6-10 MB (kernel datapath 88.6 → 97.0 MB, stats worst 106 ms; bench/README.md,
// "RSS during the storm"); the main thread never sees a frame.
// The datapath thread is limited by its Worker's resourceLimits instead.

export const VSWITCHD_NODE_ARGS: readonly string[] = ['--max-semi-space-size=1'];
