export { type ContractSubject, describeEventLogContract, waitFor } from './contract';
export { makeEvent, makeSubmittedEvent, makeUsageEvent } from './fixtures';
