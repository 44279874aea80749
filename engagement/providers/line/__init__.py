"""LINE Messaging API: push messages and the webhook."""
