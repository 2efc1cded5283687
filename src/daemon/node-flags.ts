// The options vswitchd's node runs with. bin/vswitchd's first line carries the
// same (a unit test keeps them in step); whatever starts the daemon as
// `node bin/vswitchd` (the tests' Lab, the benchmark) passes these, and a
// restart passes its own on (restart.ts: process.execArgv).
//
// --max-semi-space-size=1: V8's young generation of the main thread held at
// 1 MiB semi-spaces. Left to grow (up to 16 MiB each), V8 enlarges it under a
// steady allocation rate and keeps the RSS: under a MAC storm with `stats`
// asked 50 times a second the main thread's new space went 8 → 16 MiB, and
// RSS ~10 MB over idle (issue 15's target). Measured with the datapath
// thread's own limit (handle.ts): kernel datapath 88.8 → 99.0 MB peak, stats
// worst 123 ms; the main thread never allocates per frame, so more frequent,
// smaller scavenges cost it nothing measurable (bench/README.md, "MAC storm").
// The datapath thread is limited by its Worker's resourceLimits instead.

export const VSWITCHD_NODE_ARGS: readonly string[] = ['--max-semi-space-size=1'];
