ALTER TABLE "usage_rollup" ADD COLUMN "channel" text DEFAULT 'sync' NOT NULL;--> statement-breakpoint
ALTER TABLE "usage_rollup" ADD COLUMN "queue_wait_hist" bigint[] DEFAULT '{}'::bigint[] NOT NULL;--> statement-breakpoint
ALTER TABLE "usage_rollup" ADD COLUMN "upstream_latency_hist" bigint[] DEFAULT '{}'::bigint[] NOT NULL;--> statement-breakpoint
ALTER TABLE "usage_rollup" DROP CONSTRAINT "usage_rollup_tenant_id_bucket_start_model_pk";--> statement-breakpoint
ALTER TABLE "usage_rollup" ADD CONSTRAINT "usage_rollup_tenant_id_bucket_start_model_channel_pk" PRIMARY KEY("tenant_id","bucket_start","model","channel");--> statement-breakpoint
CREATE INDEX "requests_open_idx" ON "requests" USING btree ("priority","status") WHERE "requests"."status" NOT IN ('completed', 'failed', 'cancelled');
