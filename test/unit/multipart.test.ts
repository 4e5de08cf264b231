import { describe, expect, test } from '@jest/globals';
import { multipartShape } from '../../activities/storage/s3.js';

const MiB = 1024 * 1024;
const GB = 1e9;

describe('S3 multipart shape', () => {
  test('small and unknown sizes use 16 MiB parts, four in flight', () => {
    expect(multipartShape()).toEqual({ partSize: 16 * MiB, queueSize: 4 });
    expect(multipartShape(2 * GB)).toEqual({ partSize: 16 * MiB, queueSize: 4 });
  });

  test('a large database gets parts big enough to stay under 10 000 with margin, and fewer in flight', () => {
    for (const size of [200 * GB, 1000 * GB, 4000 * GB]) {
      const { partSize, queueSize } = multipartShape(size);
      expect(Math.ceil((size * 1.5) / partSize)).toBeLessThanOrEqual(10_000);
      expect(partSize % MiB).toBe(0);
      expect(queueSize).toBeGreaterThanOrEqual(2);
      expect(queueSize).toBeLessThan(4);
    }
  });
});
