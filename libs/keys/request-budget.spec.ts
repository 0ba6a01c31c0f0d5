import { BudgetClock, RequestBudget } from './request-budget';

function fakeClock(): BudgetClock & { t: number } {
  const c = {
    t: 0,
    now: () => c.t,
    sleep: async (ms: number) => {
      c.t += ms;
    },
  };
  return c;
}

describe('RequestBudget', () => {
  it('spaces calls evenly at the budget', async () => {
    const clock = fakeClock();
    const budget = new RequestBudget(10, clock);
    for (let i = 0; i < 21; i++) await budget.acquire();
    expect(clock.t).toBe(2000); // 21 calls at 10/s: the first at 0, the last at 2 s
  });

  it('halves the rate and pauses for Retry-After on throttling, then recovers additively', async () => {
    const clock = fakeClock();
    const budget = new RequestBudget(20, clock);
    await budget.acquire();
    budget.throttled(3000);
    expect(budget.currentRps).toBe(10);
    const before = clock.t;
    await budget.acquire();
    expect(clock.t - before).toBeGreaterThanOrEqual(3000);
    budget.throttled(0);
    expect(budget.currentRps).toBe(5);
    for (let i = 0; i < 100; i++) budget.succeeded();
    expect(budget.currentRps).toBe(20);
    expect(budget.throttles).toBe(2);
  });

  it('never drops below a floor, however often it is throttled', () => {
    const budget = new RequestBudget(64, fakeClock());
    for (let i = 0; i < 100; i++) budget.throttled(0);
    expect(budget.currentRps).toBe(1);
  });

  it('refuses a non-positive budget', () => {
    expect(() => new RequestBudget(0)).toThrow(RangeError);
  });
});
