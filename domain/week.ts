/** The Aiven contract's `full_backup_week_schedule`: comma-separated `mon`..`sun`. */

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export type WeekParse = { ok: true; days: Weekday[] } | { ok: false; reason: string };

export function parseWeekSchedule(text: string): WeekParse {
  const items = text.split(',').map((item) => item.trim().toLowerCase());
  if (text.trim() === '' || items.every((item) => item === '')) return { ok: false, reason: 'lists no day; give comma-separated days from mon, tue, wed, thu, fri, sat, sun' };
  const days: Weekday[] = [];
  for (const item of items) {
    if (!(WEEKDAYS as readonly string[]).includes(item)) {
      return { ok: false, reason: `"${item}" is not a day; use mon, tue, wed, thu, fri, sat or sun` };
    }
    if (days.includes(item as Weekday)) return { ok: false, reason: `"${item}" is listed twice` };
    days.push(item as Weekday);
  }
  return { ok: true, days: days.sort((a, b) => WEEKDAYS.indexOf(a) - WEEKDAYS.indexOf(b)) };
}

export function formatWeekSchedule(days: readonly Weekday[]): string {
  return [...days].sort((a, b) => WEEKDAYS.indexOf(a) - WEEKDAYS.indexOf(b)).join(',');
}
