CREATE TABLE "dead_letter_actions" (
	"request_id" text PRIMARY KEY NOT NULL,
	"action" text NOT NULL,
	"retry_request_id" text,
	"acted_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "dispatcher_status" (
	"dispatcher_id" text PRIMARY KEY NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"heartbeat_at" timestamp with time zone NOT NULL,
	"summary" jsonb NOT NULL
);
