CREATE TABLE "response_cache" (
	"scope" text NOT NULL,
	"key" text NOT NULL,
	"model" text NOT NULL,
	"source_request_id" text NOT NULL,
	"response" jsonb NOT NULL,
	"prompt_tokens" integer NOT NULL,
	"cached_tokens" integer NOT NULL,
	"completion_tokens" integer NOT NULL,
	"reasoning_tokens" integer NOT NULL,
	"bytes" integer NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"hit_count" bigint DEFAULT 0 NOT NULL,
	"last_hit_at" timestamp with time zone,
	CONSTRAINT "response_cache_scope_key_pk" PRIMARY KEY("scope","key")
);
--> statement-breakpoint
ALTER TABLE "requests" ADD COLUMN "cache" text;--> statement-breakpoint
ALTER TABLE "usage_rollup" ADD COLUMN "cache_hits" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "usage_rollup" ADD COLUMN "cache_misses" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "response_cache_expires_idx" ON "response_cache" USING btree ("expires_at");