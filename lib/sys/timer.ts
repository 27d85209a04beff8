/** The longest delay a timer holds: setTimeout takes a 32-bit signed count of milliseconds
 * (about 24.8 days), and a longer one fires at once instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
