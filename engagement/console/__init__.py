"""The console for marketers, under `/console` of `run` and of the worker's web server.

- `workspace`: the live trigger and message files, and an edit of them checked as `triggers
  validate` and `messages lint` check it, with each problem at its file and line.
- `versions`: publishing an edit (the files go live through hot reload) and every published
  version kept with its author, note and diff; rolling back to one.
- `backtests`: an edit replayed on recorded traffic against the live configuration, in the
  background, with its progress.
- `routes`: the JSON API the page calls, behind the API keys (`read` to look, `admin` to publish).
- `static/`: the page itself (HTML, CSS and JavaScript written here; no build step).

May import: `authoring`, `live`, `outcomes`, `replay`, `providers`, `config`, `core`, and below.
Never a runtime, nor another feature.
"""
