#!/usr/bin/env bash
# Install the pinned front-end libraries from npm and copy their browser builds, with their
# licences, into web/static/vendor. The platform runs on internal networks, so the app serves
# every asset itself; the vendored files are committed and this script is rerun only to upgrade.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor="$root/web/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp "$root/package.json" "$work/"
[ -f "$root/package-lock.json" ] && cp "$root/package-lock.json" "$work/"
(cd "$work" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error)
cp "$work/package-lock.json" "$root/package-lock.json"

mkdir -p "$vendor/chartjs"
src="$work/node_modules/chart.js"
version="$(node -p "require('$src/package.json').version")"
# The source map (1 MB) is not shipped, so drop the comment that would make devtools fetch it.
sed '/^\/\/# sourceMappingURL=/d' "$src/dist/chart.umd.min.js" > "$vendor/chartjs/chart.umd.min.js"
cp "$src/LICENSE.md" "$vendor/chartjs/LICENSE.md"
# The UMD build bundles @kurkle/color (MIT); ship its licence alongside.
cp "$work/node_modules/@kurkle/color/LICENSE.md" "$vendor/chartjs/LICENSE-kurkle-color.md"
echo "chart.js $version (MIT) from npm" > "$vendor/chartjs/VERSION"
echo "vendored chart.js $version into ${vendor#"$root"/}/chartjs" >&2

mkdir -p "$vendor/hlsjs"
src="$work/node_modules/hls.js"
version="$(node -p "require('$src/package.json').version")"
sed '/^\/\/# sourceMappingURL=/d' "$src/dist/hls.min.js" > "$vendor/hlsjs/hls.min.js"
cp "$src/LICENSE" "$vendor/hlsjs/LICENSE"
echo "hls.js $version (Apache-2.0) from npm" > "$vendor/hlsjs/VERSION"
echo "vendored hls.js $version into ${vendor#"$root"/}/hlsjs" >&2

# /docs and /redoc serve these (FastAPI's defaults load them from a CDN: a blank page offline).
mkdir -p "$vendor/swagger-ui"
src="$work/node_modules/swagger-ui-dist"
version="$(node -p "require('$src/package.json').version")"
for file in swagger-ui-bundle.js swagger-ui.css; do
    sed '/^\/\/# sourceMappingURL=/d; /^\/\*# sourceMappingURL=.*\*\/$/d' "$src/$file" > "$vendor/swagger-ui/$file"
done
cp "$src/favicon-32x32.png" "$vendor/swagger-ui/favicon-32x32.png"
cp "$src/LICENSE" "$vendor/swagger-ui/LICENSE"
cp "$src/NOTICE" "$vendor/swagger-ui/NOTICE"
cp "$src/swagger-ui-bundle.js.LICENSE.txt" "$vendor/swagger-ui/swagger-ui-bundle.js.LICENSE.txt"
echo "swagger-ui-dist $version (Apache-2.0) from npm" > "$vendor/swagger-ui/VERSION"
echo "vendored swagger-ui-dist $version into ${vendor#"$root"/}/swagger-ui" >&2

mkdir -p "$vendor/redoc"
src="$work/node_modules/redoc"
version="$(node -p "require('$src/package.json').version")"
# Its sidebar shows a Redocly logo fetched from Redocly's CDN; an empty source makes the image fail
# at once, without a request, and Redoc then hides it.
sed '/^\/\/# sourceMappingURL=/d; s#src:"https://cdn.redoc.ly/redoc/logo-mini.svg"#src:""#' \
    "$src/bundles/redoc.standalone.js" > "$vendor/redoc/redoc.standalone.js"
cp "$src/LICENSE" "$vendor/redoc/LICENSE"
cp "$src/bundles/redoc.standalone.js.LICENSE.txt" "$vendor/redoc/redoc.standalone.js.LICENSE.txt"
echo "redoc $version (MIT) from npm" > "$vendor/redoc/VERSION"
echo "vendored redoc $version into ${vendor#"$root"/}/redoc" >&2
