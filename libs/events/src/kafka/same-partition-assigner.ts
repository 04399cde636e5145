import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

/**
 * Gives each member the same partition numbers across every subscribed topic: partition n of
 * every priority topic goes to one member, so one dispatcher owns one pool's traffic of every class.
 */
export const SamePartitionAssigner: PartitionAssigner = ({ cluster }) => ({
  name: 'SluiceSamePartition',
  version: 1,
  async assign({ members, topics }) {
    const memberIds = members.map((m) => m.memberId).sort();
    let maxPartitions = 0;
    const partitionsOf = new Map<string, number[]>();
    for (const topic of topics) {
      const ids = cluster
        .findTopicPartitionMetadata(topic)
        .map((p) => p.partitionId)
        .sort((a, b) => a - b);
      partitionsOf.set(topic, ids);
      maxPartitions = Math.max(maxPartitions, ids.length);
    }
    const plan = new Map<string, Record<string, number[]>>(memberIds.map((id) => [id, {}]));
    for (let n = 0; n < maxPartitions; n++) {
      const owner = memberIds[n % memberIds.length]!;
      const assignment = plan.get(owner)!;
      for (const topic of topics) {
        if (!partitionsOf.get(topic)?.includes(n)) continue;
        assignment[topic] = [...(assignment[topic] ?? []), n];
      }
    }
    return memberIds.map((memberId) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: 1,
        assignment: plan.get(memberId) ?? {},
        userData: Buffer.alloc(0),
      }),
    }));
  },
  protocol({ topics }) {
    return {
      name: 'SluiceSamePartition',
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }),
    };
  },
});
