import { describe, expect, it } from 'vitest';
import { csvCell } from './api.commands';

describe('winnow events --format csv', () => {
  it('writes CSV cells a spreadsheet would run as formulas as text', () => {
    expect(['=HYPERLINK("http://evil.example","x")', '+1+2', '-3+4', '@SUM(1,2)', '\tx', 'plain', 'a,b'].map(csvCell)).toEqual([
      `"'=HYPERLINK(""http://evil.example"",""x"")"`,
      "'+1+2",
      "'-3+4",
      `"'@SUM(1,2)"`,
      "'\tx",
      'plain',
      '"a,b"',
    ]);
  });
});
