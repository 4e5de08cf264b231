// Prints the plain closing line CI reads: "jest: N passed, N failed, N skipped", then each skipped
// test by its full name (a skipped test's name says why: Jest's own output hides it when a whole
// file is skipped). With CHAINBACKUP_SUMMARY_FILE set, also appends the counts there, for
// scripts/test.sh's total over runs.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- Jest loads reporters as CommonJS
const { appendFileSync } = require('node:fs');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const line = `jest: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped`;
    const names = results.testResults.flatMap((file) => file.testResults.filter((test) => test.status === 'pending' || test.status === 'todo').map((test) => `skipped: ${test.fullName}\n`));
    process.stdout.write(`\n${line}\n${names.join('')}`);
    const file = process.env.CHAINBACKUP_SUMMARY_FILE;
    if (file) appendFileSync(file, `${results.numPassedTests} ${results.numFailedTests} ${skipped}\n`);
  }
}
module.exports = SummaryReporter;
