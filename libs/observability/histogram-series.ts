import type { Histogram } from 'prom-client';

interface Series {
  sum: number;
  count: number;
  bucketValues: Record<number, number>;
}

/**
 * One series of a prom-client histogram with one label (`outcome="released"`), observed the way
 * prom-client's `observe` does it — the same additions in the same order, so the same sums — but
 * without the closure, labels pair and hash string `observe` makes per call. It finds the series
 * under the key prom-client files it by; when there is none (before the first observation, after a
 * reset), or prom-client keeps its series in another shape, `observe` is called instead.
 */
export class HistogramSeries {
  private readonly key: string;
  private readonly labels: Record<string, string>;
  private readonly bounds: readonly number[] | undefined;
  private shapeChecked = false;

  constructor(
    private readonly histogram: Histogram<string>,
    label: string,
    value: string,
  ) {
    this.key = `${label}:${value},`;
    this.labels = { [label]: value };
    const bounds = (histogram as unknown as { upperBounds?: unknown }).upperBounds;
    this.bounds = Array.isArray(bounds) && bounds.every((b) => typeof b === 'number') ? bounds : undefined;
  }

  observe(value: number): void {
    const series = this.series();
    if (series === undefined || !Number.isFinite(value)) {
      this.histogram.observe(this.labels, value);
      return;
    }
    series.sum += value;
    series.count += 1;
    for (const b of this.bounds!) {
      if (value <= b) {
        series.bucketValues[b] += 1;
        break;
      }
    }
  }

  private series(): Series | undefined {
    if (this.bounds === undefined) return undefined;
    const series = (this.histogram as unknown as { hashMap?: Record<string, Series | undefined> }).hashMap?.[this.key];
    if (series === undefined || this.shapeChecked) return series;
    const shaped =
      typeof series.sum === 'number' &&
      typeof series.count === 'number' &&
      typeof series.bucketValues === 'object' &&
      this.bounds.every((b) => typeof series.bucketValues[b] === 'number');
    if (!shaped) return undefined;
    this.shapeChecked = true;
    return series;
  }
}
