# t_docs.sh - the examples in README.md, docs/*.md and the SDK's READMEs
# (sdk/template, sdk/examples/*) run, so they cannot rot.
# In a doc, a block fenced as ```json file=NAME (or any language with file=NAME)
# is written to NAME; a block fenced as ```sh test is run with sh -e in the same
# directory, with gearbox on PATH, and must exit 0. Each doc gets its own dir.
. "$(dirname "$0")/lib.sh"
: "${GBX_ROOT:?}"
mkdir -p bin
ln -s "$GBX" bin/gearbox
PATH="$T/bin:$PATH"
export PATH

# the SDK's walk-throughs build from the checkout they document
GEARBOX_SRC=$GBX_ROOT
export GEARBOX_SRC

for doc in "$GBX_ROOT"/README.md "$GBX_ROOT"/docs/*.md "$GBX_ROOT"/docs/plugins/*.md \
	"$GBX_ROOT"/sdk/template/README.md "$GBX_ROOT"/sdk/examples/*/README.md; do
	[ -f "$doc" ] || continue
	name=$(basename "$doc")
	case "$doc" in "$GBX_ROOT"/sdk/*) name=$(echo "${doc#"$GBX_ROOT"/}" | tr / -) ;; esac
	d="$T/doc-$name"
	mkdir -p "$d"
	# examples/ as in the checkout, so a doc may use the example workloads by
	# the paths it gives them
	ln -s "$GBX_ROOT/examples" "$d/examples"
	# split the doc into numbered pieces: NNN.file.NAME or NNN.test
	awk -v dir="$d" '
		/^```/ && inblk { inblk = 0; close(out); next }
		/^```[a-z]* +file=/ { n++; f = $0; sub(/.*file=/, "", f); out = sprintf("%s/%03d.file.%s", dir, n, f); inblk = 1; printf "" > out; next }
		/^```sh +test/ { n++; out = sprintf("%s/%03d.test", dir, n); inblk = 1; printf "" > out; next }
		/^```/ && !inblk { skip = !skip; next }
		inblk { print > out }
	' "$doc"
	cnt=0
	for piece in $(ls "$d" | sort); do
		case "$piece" in
		*.file.*) cp "$d/$piece" "$d/${piece#*.file.}" ;;
		*.test)
			cnt=$((cnt + 1))
			if (cd "$d" && sh -e "$piece" >"$piece.out" 2>&1); then
				pass "$name example $cnt runs"
			else
				fail "$name example $cnt runs" "$(cat "$d/$piece")" "output: $(tail -20 "$d/$piece.out")"
			fi ;;
		esac
	done
done
