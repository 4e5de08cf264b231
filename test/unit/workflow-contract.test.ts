/** The contract's workflow type names are the names the worker registers: the exported workflow functions. */
import { describe, expect, test } from '@jest/globals';
import { WorkflowType } from '../../domain/workflow-contract.js';
import * as workflows from '../../workflows/index.js';

describe('the workflow contract', () => {
  test('names exactly the exported workflow functions, each by its own name', () => {
    const exported = Object.entries(workflows)
      .filter(([, value]) => typeof value === 'function')
      .map(([key, value]) => [key, (value as { name: string }).name]);
    expect(Object.fromEntries(exported)).toEqual({ ...WorkflowType });
  });
});
