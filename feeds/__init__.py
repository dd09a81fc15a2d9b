"""What goes out: feeds (Atom, RSS, JSON Feed), the HTTP app, OPML, static export, alerts."""
