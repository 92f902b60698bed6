"""The web companion: a page for the walker's phone (`--web [HOST:]PORT` on run, demo, replay).

coach.outputs.web.companion  the aiohttp server and the session Observer (state, prompts, SSE)
coach.outputs.web.page.html  the page (no build step): direction, tallies, interval, speech
coach.outputs.web.tls        the self-signed certificate behind --web-tls
"""
from coach.outputs.web.companion import WebCompanion, WebMotionSource

__all__ = ["WebCompanion", "WebMotionSource"]
