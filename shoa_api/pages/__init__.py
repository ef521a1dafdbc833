"""Server-rendered pages for people rather than programs: today the mall insights page for a mall's staff. HTML and
SVG are made here, from the domains' structs; the domains themselves never know about the web."""
