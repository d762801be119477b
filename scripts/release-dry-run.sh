#!/usr/bin/env bash
# Everything a release does except the upload, on a throw-away worktree of HEAD (your checkout is
# not touched): `changeset version` (bumps, internal dependents, CHANGELOGs), a build, the package
# checks, and `pnpm publish --dry-run` for every public package (what would be uploaded).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tree="$(mktemp -d "${TMPDIR:-/tmp}/rnnkit-release.XXXXXX")"
cleanup() { git -C "$root" worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"; }
trap cleanup EXIT
git -C "$root" worktree add --detach "$tree" HEAD >/dev/null
cd "$tree"
pnpm install --frozen-lockfile --prefer-offline >/dev/null
echo "== pending changesets"
pnpm exec changeset status --verbose || true
echo "== changeset version"
pnpm exec changeset version >/dev/null
for pkg in packages/* apps/cli; do
  node -e 'const p=require(process.argv[1]); console.log(`${p.name}@${p.version}`)' "$tree/$pkg/package.json"
done
echo "== changelog entries"
for pkg in packages/* apps/cli; do
  [ -f "$pkg/CHANGELOG.md" ] && { echo "--- $pkg/CHANGELOG.md"; sed -n '1,40p' "$pkg/CHANGELOG.md"; }
done
echo "== build and package checks"
pnpm exec turbo run build publint attw --output-logs=errors-only
echo "== publish (dry run)"
pnpm -r publish --dry-run --no-git-checks --access public 2>&1 | grep -E '^(\+|npm notice (name|version|filename|package size|total files))|Tarball|@rnnkit' || true
echo "release dry run: ok (nothing was uploaded)"
