/**
 * The failure converter when payload encryption is on: a failure's message and stack trace travel
 * as an encoded payload (so through the payload codec), and Temporal sees "Encoded failure". Loaded
 * by path (the SDK's `failureConverterPath`) in the worker, the CLI and the workflow bundle alike,
 * so it imports nothing but @temporalio/common.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
