CREATE TABLE "upstream_batches" (
	"local_id" text PRIMARY KEY NOT NULL,
	"upstream_batch_id" text,
	"pool" text NOT NULL,
	"model" text NOT NULL,
	"input_file_id" text,
	"request_count" integer NOT NULL,
	"reserved_tokens" bigint NOT NULL,
	"members" jsonb NOT NULL,
	"status" text NOT NULL,
	"lease_owner" text,
	"lease_until" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"submitted_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_count" integer DEFAULT 0 NOT NULL,
	"failed_count" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX "upstream_batches_status_idx" ON "upstream_batches" USING btree ("status","lease_until");