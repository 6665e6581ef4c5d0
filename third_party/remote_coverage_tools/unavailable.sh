#!/bin/sh
echo "coverage tools are not available in isopool's offline build" >&2
exit 1
