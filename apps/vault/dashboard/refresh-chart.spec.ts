import { refreshChart } from './refresh-chart';

const hours = (counts: number[]) => counts.map((count, i) => ({ start: new Date(Date.UTC(2026, 0, 1, i)), count }));

describe('refresh failure chart', () => {
  it('draws one bar per hour with failures, the tallest reaching the top of the plot', () => {
    const counts = Array(24).fill(0);
    counts[3] = 2;
    counts[23] = 4;
    const svg = refreshChart(hours(counts), 6).value;
    const bars = [...svg.matchAll(/<rect class="bar" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"[^>]*data-count="(\d+)"/g)];
    expect(bars.map((b) => Number(b[3]))).toEqual([2, 4]);
    const [low, high] = bars.map((b) => ({ y: Number(b[1]), h: Number(b[2]) }));
    expect(high.y).toBe(12); // the top padding
    expect(high.h).toBeCloseTo(low.h * 2, 1);
    expect(svg).toContain('role="img"');
    expect(svg).toContain('6 refresh failures in the last 24 hours');
    expect(svg).toContain('<title>2026-01-01 23:00 UTC: 4 refresh failures</title>');
  });

  it('has no bar and says zero when nothing failed', () => {
    const svg = refreshChart(hours(Array(24).fill(0)), 0).value;
    expect(svg).not.toContain('class="bar"');
    expect(svg).toContain('0 refresh failures');
    expect(svg).toContain('the highest hour has 0');
  });
});
