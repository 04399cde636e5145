CREATE TABLE "response_deletions" (
	"tenant_id" text NOT NULL,
	"response_id" text NOT NULL,
	"deleted_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "response_deletions_tenant_id_response_id_pk" PRIMARY KEY("tenant_id","response_id")
);
--> statement-breakpoint
CREATE TABLE "response_owners" (
	"tenant_id" text NOT NULL,
	"state_id" text NOT NULL,
	"kind" text NOT NULL,
	"pool" text NOT NULL,
	"request_id" text NOT NULL,
	"upstream_id" text NOT NULL,
	"context_tokens" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "response_owners_tenant_id_state_id_pk" PRIMARY KEY("tenant_id","state_id")
);
--> statement-breakpoint
CREATE TABLE "usage_units" (
	"tenant_id" text NOT NULL,
	"bucket_start" timestamp with time zone NOT NULL,
	"model" text NOT NULL,
	"endpoint" text NOT NULL,
	"channel" text NOT NULL,
	"unit" text NOT NULL,
	"count" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "usage_units_tenant_id_bucket_start_model_endpoint_channel_unit_pk" PRIMARY KEY("tenant_id","bucket_start","model","endpoint","channel","unit")
);
--> statement-breakpoint
CREATE INDEX "response_owners_state_idx" ON "response_owners" USING btree ("state_id");