"""`engagement replay`: the engine over recorded events on the event-time clock."""
