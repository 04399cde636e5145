CREATE TABLE "admin_actions" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"actor_key_id" text,
	"session_id" text,
	"via" text NOT NULL,
	"action" text NOT NULL,
	"target" text,
	"details" jsonb NOT NULL,
	"outcome" text NOT NULL,
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "console_sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"token_hash" text NOT NULL,
	"key_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	CONSTRAINT "console_sessions_tokenHash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
DROP INDEX "requests_open_idx";--> statement-breakpoint
CREATE INDEX "admin_actions_target_idx" ON "admin_actions" USING btree ("target");--> statement-breakpoint
CREATE INDEX "console_sessions_key_idx" ON "console_sessions" USING btree ("key_id");--> statement-breakpoint
CREATE INDEX "requests_submitted_idx" ON "requests" USING btree ("submitted_at","request_id");--> statement-breakpoint
CREATE INDEX "requests_status_submitted_idx" ON "requests" USING btree ("status","submitted_at");--> statement-breakpoint
CREATE INDEX "requests_model_submitted_idx" ON "requests" USING btree ("model","submitted_at");--> statement-breakpoint
CREATE INDEX "requests_endpoint_submitted_idx" ON "requests" USING btree ("endpoint","submitted_at");--> statement-breakpoint
CREATE INDEX "requests_idempotency_key_idx" ON "requests" USING btree ("idempotency_key") WHERE "requests"."idempotency_key" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "requests_open_idx" ON "requests" USING btree ("priority","status","tenant_id","submitted_at") WHERE "requests"."status" NOT IN ('completed', 'failed', 'cancelled');--> statement-breakpoint
-- The audit trail is append-only: rows are never changed or removed (the hash chain shows it if they are anyway).
CREATE FUNCTION "admin_actions_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'admin_actions is append-only: % refused', TG_OP;
END;
$$;--> statement-breakpoint
CREATE TRIGGER "admin_actions_no_change" BEFORE UPDATE OR DELETE ON "admin_actions" FOR EACH ROW EXECUTE FUNCTION "admin_actions_append_only"();--> statement-breakpoint
CREATE TRIGGER "admin_actions_no_truncate" BEFORE TRUNCATE ON "admin_actions" FOR EACH STATEMENT EXECUTE FUNCTION "admin_actions_append_only"();
