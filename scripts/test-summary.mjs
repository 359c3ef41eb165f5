// node:test reporter for `npm test`: one closing line, "N passed, N failed, N skipped", counting
// tests (not the suites around them). The dot reporter beside it prints progress and every
// failure in full.
export default async function* summary(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const started = Date.now();
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    if (event.data.details?.type === "suite") continue;
    if (event.data.skip || event.data.todo) skipped++;
    else if (event.type === "test:pass") passed++;
    else failed++;
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  yield `\n${passed} passed, ${failed} failed, ${skipped} skipped\n(${seconds} s; run one file with: node --import tsx --test test/FOLDER/NAME.test.ts)\n`;
}
