/**
 * Preloaded into the vault with `-r` when `BENCH_HEAP_SAMPLE=<dir>` is set: V8's sampling heap
 * profiler, counting objects already collected too (so it shows where the bytes of every request
 * are allocated, not what stays alive). The first SIGUSR2 starts sampling, the second writes
 * `<dir>/vault-<pid>.heapprofile` (open it in Chrome DevTools, Memory tab) and stops.
 * Plain JavaScript: it is loaded before anything is compiled.
 */
'use strict';
const inspector = require('node:inspector');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = process.env.BENCH_HEAP_SAMPLE;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  let sampling = false;
  process.on('SIGUSR2', () => {
    if (!sampling) {
      sampling = true;
      session.post('HeapProfiler.startSampling', {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
      return;
    }
    sampling = false;
    session.post('HeapProfiler.stopSampling', (err, res) => {
      if (err) process.stderr.write(`heap sample: ${err.message}\n`);
      else writeFileSync(join(dir, `vault-${process.pid}.heapprofile`), JSON.stringify(res.profile));
    });
  });
}
