package main

import (
	"flag"
	"strings"
)

// stringList is a repeatable flag; each value may also hold several items separated by spaces
// (so that one environment variable can list several).
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, " ") }

// Set adds the items of one value.
func (l *stringList) Set(v string) error {
	*l = append(*l, strings.Fields(v)...)
	return nil
}

// declareWebhookFlags declares --webhook-url and --webhook-secret.
func declareWebhookFlags(fs *flag.FlagSet, cfg *config) {
	fs.Var(&cfg.WebhookURLs, "webhook-url", "POST each new message's summary (JSON) to this URL; repeat the flag for more, or list them space-separated in the environment ["+envName("webhook-url")+"]")
	fs.StringVar(&cfg.WebhookSecret, "webhook-secret", "", "sign webhook bodies with HMAC-SHA256 under this secret (headers X-Letterbox-Timestamp, X-Letterbox-Signature) ["+envName("webhook-secret")+"]")
}
