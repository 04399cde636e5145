ALTER TABLE "usage_rollup" ADD COLUMN "endpoint" text DEFAULT '/v1/chat/completions' NOT NULL;--> statement-breakpoint
ALTER TABLE "usage_rollup" DROP CONSTRAINT "usage_rollup_tenant_id_bucket_start_model_channel_pk";--> statement-breakpoint
ALTER TABLE "usage_rollup" ADD CONSTRAINT "usage_rollup_tenant_id_bucket_start_model_endpoint_channel_pk" PRIMARY KEY("tenant_id","bucket_start","model","endpoint","channel");--> statement-breakpoint
ALTER TABLE "requests" ADD COLUMN "endpoint" text DEFAULT '/v1/chat/completions' NOT NULL;--> statement-breakpoint
ALTER TABLE "requests" ADD COLUMN "fingerprint" text;--> statement-breakpoint
ALTER TABLE "requests" ADD COLUMN "upstream_error" jsonb;--> statement-breakpoint
ALTER TABLE "requests" ADD COLUMN "upstream_request_id" text;--> statement-breakpoint
ALTER TABLE "requests" ADD COLUMN "upstream_processing_ms" integer;--> statement-breakpoint
ALTER TABLE "upstream_batches" ADD COLUMN "endpoint" text DEFAULT '/v1/chat/completions' NOT NULL;
