export { type ContractSubject, describeEventLogContract } from './contract';
export { makeSubmittedEvent, makeUsageEvent } from './fixtures';
