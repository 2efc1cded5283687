// The options vswitchd's node runs with. bin/vswitchd's first line carries the
// same (a unit test keeps them in step); whatever starts the daemon as
// `node bin/vswitchd` (the tests' Lab, the benchmark) passes these, and a
// restart passes its own on (restart.ts: process.execArgv).
//
// --max-semi-space-size=1: V8's young generation held at 1 MiB semi-spaces
// (a 2 MiB new space). Left to grow (up to 16 MiB each), V8 enlarges it under
// a steady allocation rate and keeps the RSS: under a MAC storm with `stats`
// asked 50 times a second the main thread's new space went 8 → 16 MiB, the
// datapath thread's 4 → 8-32 MiB (issue 15: RSS within 10 MB of idle). A V8
// flag is process-wide: it holds every thread's isolate, the datapath
// thread's included (handle.ts), and a Worker's resourceLimits
// (maxYoungGenerationSizeMb) cannot change it either way (test/unit/
// node-memory.test.ts). With it the storm's peak went from 10-20 MB over idle
// to 6-10 MB (kernel datapath 88.6 → 97.0 MB, stats worst 106 ms;
// bench/README.md, "RSS during the storm"). The forwarding loop allocates
// nothing per frame, so a small young generation costs only more frequent,
// equally small scavenges.
// bin/vswitchd's first line is `#!/usr/bin/env -S node …`: env's -S (split
// the line into arguments) needs GNU coreutils 8.30 or newer (Debian 10+).

export const VSWITCHD_NODE_ARGS: readonly string[] = ['--max-semi-space-size=1'];
