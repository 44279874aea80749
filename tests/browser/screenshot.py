"""A full-page screenshot of a page or file in Debian's headless Chromium.

Usage: python -m tests.browser.screenshot URL_OR_FILE OUT.png [--width W]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tests.browser.chromium import chromium, full_page_screenshot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("page")
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    url = args.page if "://" in args.page else Path(args.page).resolve().as_uri()
    with chromium(width=args.width) as browser:
        browser.get(url)
        full_page_screenshot(browser, args.out)
    print(f"{args.out}: {args.out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
