"""`agentops bundle`: one archive (tar.gz) an expert can read, organised like `sos report` / troubleshoot.sh
support bundles: collectors (each under its own timeout, all at once, recorded in a manifest), one redactor
over every file with a redaction report, size caps that keep each file's head and tail, and the diagnosis
verdict at the top (SUMMARY.md, manifest.json). docs/bundle.md describes the layout."""
