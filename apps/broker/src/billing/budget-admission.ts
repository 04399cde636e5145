import type { RequestIntake } from '../intake/request-intake';
import type { BillingService } from './billing-service';

/**
 * The intake with budget admission in front: a tenant whose budget is spent is refused
 * (`budget_exceeded`) or its request lowered to `batch`, per its budget. A resubmission with a
 * known idempotency key still passes through the intake, which answers it as a duplicate.
 */
export function withBudgetAdmission(
  intake: RequestIntake,
  billing: Pick<BillingService, 'admit'>,
): RequestIntake {
  return {
    ...intake,
    async submit(tenantId, body, options, source, onAppending) {
      const asked = options.priority ?? 'standard';
      const priority = await billing.admit(tenantId, asked);
      const admitted = priority === asked ? options : { ...options, priority };
      return intake.submit(tenantId, body, admitted, source, onAppending);
    },
  };
}
