# report.awk -- turns a `make bench` run into its report: Markdown on
# standard output (results.md), and, in the directory `out`, results.csv
# and one SVG bar chart per workload.
#
#   awk -F'\t' -v out=DIR -v elapsed=SECONDS -f bench/report.awk \
#       machine.tsv results.tsv
#
# machine.tsv: key<TAB>value.  results.tsv, one row per server,
# workload and round: workload server kind status value unit p50 p99
# p999 errors note round (a server's best round is kept); status ok, err (had errors), capped (stopped at the time cap),
# na (did not run: the note says why).  First come "order" rows, one per
# server in table order: status na when it was skipped as a whole.
#
# Every row is compared with the best peer (a server not ours) that ran
# the same workload without errors in the same run: "vs best peer" is
# always > 1 when ours does better (more per second, or less time,
# memory or CPU).  Plain POSIX awk (mawk is Debian's default).
#
# bench/handler_bench.sh uses it too, for one handler in every mode: its
# machine.tsv names the workloads (workloads, and per workload title_W,
# short_W, unit_W, higher_W), and "compare best" compares every row with
# the best row of the run (there are no peers); the targets give way to
# which mode won what.

BEGIN {
    nw = split("conn echo poetry idle1000 idle10000 http cpu cpu_echo cpu_http sys_conn sys_echo sys_http", wl, " ")
    title["conn"] = "1. Connection rate: thankyou, 32 concurrent clients"
    title["echo"] = "2. Request/response: 64-byte echo on 32 persistent connections (redis: PING)"
    title["poetry"] = "3. Slow clients: the poem to 200 clients at once, total time"
    title["idle1000"] = "4a. Idle connections, 1,000 held: server memory (PSS) per connection"
    title["idle10000"] = "4b. Idle connections, 10,000 held: server memory (PSS) per connection"
    title["http"] = "5. HTTP: a 500-byte file under wrk, 32 keep-alive connections"
    title["cpu"] = "6. Server CPU time (user + system, every process) per connection, workload 1"
    title["cpu_echo"] = "6b. Server CPU time per echo round trip (redis: PING), workload 2"
    title["cpu_http"] = "6c. Server CPU time per HTTP request, workload 5"
    title["sys_conn"] = "7a. System calls per connection (thankyou), counted by strace -c -f"
    title["sys_echo"] = "7b. System calls per echo round trip (redis: PING), counted by strace -c -f"
    title["sys_http"] = "7c. System calls per HTTP request, counted by strace -c -f"
    short["conn"] = "conn/s"; short["echo"] = "echo req/s"
    short["poetry"] = "slow clients s"; short["idle1000"] = "idle 1k KiB/conn"
    short["idle10000"] = "idle 10k KiB/conn"; short["http"] = "HTTP req/s"
    short["cpu"] = "CPU us/conn"
    short["cpu_echo"] = "CPU us/echo"; short["cpu_http"] = "CPU us/HTTP req"
    short["sys_conn"] = "syscalls/conn"; short["sys_echo"] = "syscalls/echo"
    short["sys_http"] = "syscalls/HTTP req"
    unit["conn"] = "conn/s"; unit["echo"] = "req/s"; unit["poetry"] = "s"
    unit["idle1000"] = "KiB/conn"; unit["idle10000"] = "KiB/conn"
    unit["http"] = "req/s"; unit["cpu"] = "us/conn"
    unit["cpu_echo"] = unit["cpu_http"] = "us/req"
    unit["sys_conn"] = "syscalls/conn"; unit["sys_echo"] = unit["sys_http"] = "syscalls/req"
    higher["conn"] = higher["echo"] = higher["http"] = 1
    ns = 0
}

FNR == NR { machine[$1] = $2; next }

!configured { configured = 1; if (machine["workloads"] != "") own_workloads() }

{
    w = $1; s = $2
    if (!(s in seen)) { seen[s] = 1; order[++ns] = s; kind[s] = $3 }
    if (w == "order") { if ($4 == "na") skipped[s] = $11; next }
    key = w SUBSEP s
    # A workload run in several rounds keeps its best one (see below).
    seen_value = ($5 == "" ? "–" : fmt(w, $5)) ($4 == "err" ? " ⚠" : "")
    rounds_of[key] = (key in have) ? rounds_of[key] " / " seen_value : seen_value
    nrounds[key]++
    if ((key in have) && !round_better(w, $4, $5, status[key], value[key]))
        next
    have[key] = 1; used[w] = 1; status[key] = $4; value[key] = $5
    p50[key] = $7; p99[key] = $8; p999[key] = $9; errs[key] = $10
    note[key] = $11
}

END {
    # Workloads no server ran (idle 10k in QUICK=1) are left out.
    for (i = 1; i <= nw; i++)
        if (wl[i] in used) kept[++nk] = wl[i]
    nw = nk
    for (i = 1; i <= nw; i++)
        wl[i] = kept[i]
    for (i = 1; i <= nw; i++)
        find_best(wl[i])
    header()
    summary()
    for (i = 1; i <= nw; i++)
        detail(wl[i])
    targets()
    csv()
    for (i = 1; i <= nw; i++)
        if (wl[i] !~ /^(cpu_|sys_)/)
            svg(wl[i])
    svg_syscalls()
}

# ---- Numbers ---------------------------------------------------------------

# The workloads machine.tsv names, in place of make bench's.
function own_workloads(    i, w) {
    nw = split(machine["workloads"], wl, " ")
    for (i = 1; i <= nw; i++) {
        w = wl[i]
        title[w] = machine["title_" w]; short[w] = machine["short_" w]
        unit[w] = machine["unit_" w]; higher[w] = machine["higher_" w] + 0
    }
}

# Rounds: one without errors beats one with; then the better value.
function rank(st) { return st == "ok" ? 3 : st == "capped" ? 2 : st == "err" ? 1 : 0 }

function round_better(w, st, v, old_st, old_v) {
    if (rank(st) != rank(old_st)) return rank(st) > rank(old_st)
    if (v == "") return 0
    if (old_v == "") return 1
    return is_better(w, v + 0, old_v + 0)
}

# The note of a row, with every round's value when there were several.
function full_note(k) {
    if (nrounds[k] < 2) return note[k]
    return (note[k] == "" ? "" : note[k] "; ") "best of " nrounds[k] " rounds: " rounds_of[k]
}

function is_better(w, a, b) { return higher[w] ? a > b : a < b }

# The best peer of workload w: a server not ours, ok, with a value.
function find_best(w,    j, s, k) {
    for (j = 1; j <= ns; j++) {
        s = order[j]; k = w SUBSEP s
        if ((kind[s] == "ours" && machine["compare"] != "best") || status[k] != "ok" || value[k] == "" || value[k] + 0 <= 0)
            continue
        if (!(w in best) || is_better(w, value[k] + 0, value[best[w]] + 0))
            best[w] = k
    }
}

function best_name(w) { split(best[w], parts, SUBSEP); return parts[2] }

# How many times better than the best peer (> 1: better).
function ratio(w, k,    b) {
    if (!(w in best) || value[k] == "" || value[k] + 0 <= 0)
        return ""
    b = value[best[w]] + 0
    return higher[w] ? (value[k] + 0) / b : b / (value[k] + 0)
}

function commas(n,    s, r) {
    s = sprintf("%.0f", n); r = ""
    while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
    return s r
}

function fmt(w, v) {
    if (v == "") return ""
    if (w == "conn" || w == "echo" || w == "http" || unit[w] ~ /\/s$/) return commas(v)
    if (w == "poetry" || w ~ /^sys_/) return sprintf("%.2f", v)
    return sprintf("%.1f", v)
}

function fmt_ratio(r) { return r == "" ? "" : sprintf("%.2f×", r) }

function ms(us) { return us == "" ? "" : sprintf("%.2f", us / 1000) }

# The cell of the summary table and the value of the detail tables.
function cell(w, s, with_ratio,    k, v) {
    k = w SUBSEP s
    if (s in skipped) return "skipped"
    if (!(k in have)) return "—"
    if (status[k] == "na") return "n/a"
    if (value[k] == "") return "failed ⚠"
    v = (status[k] == "capped" ? "≥ " : "") fmt(w, value[k])
    if (with_ratio && ratio(w, k) != "") v = v " (" fmt_ratio(ratio(w, k)) ")"
    if (status[k] == "err") v = v " ⚠"
    return v
}

# ---- Markdown --------------------------------------------------------------

# bench/handler_bench.sh's header: one handler, every mode.
function handler_header() {
    printf "# Handler benchmark: %s, %s\n\n", machine["handler"], machine["date"]
    printf "Server: `%s --handler %s` in each mode.  Machine: %s cores (%s), %s.  Client: our `loadgen` (epoll, one process), sharing the cores with the server: compare the ratios within this run.\n\n",
        machine["server"], machine["handler"], machine["cores"], machine["cpu"], machine["kernel"]
    printf "Run: %s, %s s per timed run, %s s in all.  In parentheses: the ratio to the best mode of this run in that column (1.00×: the best; below 1: worse, whether more is better or less); ⚠: the row had errors (see its note).\n\n",
        machine["quick"] == 1 ? "quick" : "full", machine["secs"], elapsed
}

function header() {
    if (machine["handler"] != "") { handler_header(); return }
    printf "# make bench: %s\n\n", machine["date"]
    printf "Machine: %s cores (%s), %s, %s.  Peers: %s, %s, redis %s; client: our `loadgen` (epoll, one process) and %s.  ",
        machine["cores"], machine["cpu"], machine["kernel"], machine["compiler"],
        machine["python"], machine["nginx"], machine["redis"], machine["wrk"]
    printf "Client and server share these %s cores, so a fast server competes with its own load generator: compare the ratios within this run, not the figures with another machine's.\n\n", machine["cores"]
    printf "Run: %s, %s s per timed run; connection rate, echo and HTTP: the best of %s rounds, each round over every server in turn; poem lines %s ms apart (cap %s s); %s s in all.\n\n",
        machine["quick"] == 1 ? "QUICK=1" : "full", machine["secs"], machine["rounds"],
        machine["poetry_delay"], machine["poetry_cap"], elapsed
    printf "In parentheses: times better than the best peer in the same run (> 1: ours did better, for time, memory and CPU too); ⚠: the row had errors (see its note); ≥: stopped at the time cap; —: not a workload for this peer.\n\n"
}

function summary(    j, i, s, line, sep) {
    line = "| server |"; sep = "|---|"
    for (i = 1; i <= nw; i++) { line = line " " short[wl[i]] " |"; sep = sep "---:|" }
    print line; print sep
    for (j = 1; j <= ns; j++) {
        s = order[j]; line = "| " s " |"
        for (i = 1; i <= nw; i++) line = line " " cell(wl[i], s, 1) " |"
        print line
    }
    print ""
    for (j = 1; j <= ns; j++)
        if (order[j] in skipped) {
            printf "- %s skipped: %s\n", order[j], skipped[order[j]]
            listed = 1
        }
    if (listed) print ""
}

function detail(w,    j, s, k, r) {
    printf "### %s\n\n", title[w]
    printf "Best %s: %s.  ", machine["compare"] == "best" ? "mode" : "peer", (w in best) ? best_name(w) " (" fmt(w, value[best[w]]) " " unit[w] ")" : "none ran"
    printf "%s is better.  Chart: %s.", higher[w] ? "Higher" : "Lower",
        w ~ /^sys_/ ? "`syscalls.svg`" : w ~ /^cpu_/ ? "none" : "`" w ".svg`"
    if (w ~ /^idle[0-9]/) printf "  Latency here: from connect to the server's greeting, %s connections opened 256 at a time.", substr(w, 5)
    printf "\n\n"
    vs = machine["compare"] == "best" ? "vs best" : "vs best peer"
    if (w ~ /^(cpu|sys_)/)
        print "| server | " unit[w] " | " vs " | errors | note |\n|---|---:|---:|---:|---|"
    else
        print "| server | " unit[w] " | " vs " | p50 ms | p99 ms | p99.9 ms | errors | note |\n|---|---:|---:|---:|---:|---:|---:|---|"
    for (j = 1; j <= ns; j++) {
        s = order[j]; k = w SUBSEP s
        if (!(k in have)) continue
        r = fmt_ratio(ratio(w, k))
        if (w ~ /^(cpu|sys_)/)
            printf "| %s | %s | %s | %s | %s |\n", s, cell(w, s, 0), r, errs[k], full_note(k)
        else
            printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", s, cell(w, s, 0), r,
                ms(p50[k]), ms(p99[k]), ms(p999[k]), errs[k], full_note(k)
    }
    print ""
}

# ---- Targets (issue 6) -----------------------------------------------------

# Ours at its best in workload w (ok rows only): the key, or "".
function best_ours(w,    j, s, k, b) {
    b = ""
    for (j = 1; j <= ns; j++) {
        s = order[j]; k = w SUBSEP s
        if (kind[s] != "ours" || status[k] != "ok" || value[k] == "") continue
        if (b == "" || is_better(w, value[k] + 0, value[b] + 0)) b = k
    }
    return b
}

function ok_value(w, s,    k) {
    k = w SUBSEP s
    return (status[k] == "ok" && value[k] != "" && value[k] + 0 > 0) ? value[k] + 0 : ""
}

function verdict(r, goal) {
    if (r == "") return "not measured"
    return sprintf("%.3g× (target ≥ %s×): %s", r, goal, r >= goal ? "met" : "NOT met")
}

# The best of ours against a named peer (or the better of two).
function target_vs_peer(w, peer, peer2,    b, p, who) {
    b = best_ours(w); p = ok_value(w, peer); who = peer
    if (peer2 != "" && ok_value(w, peer2) != "" && (p == "" || is_better(w, ok_value(w, peer2), p))) {
        p = ok_value(w, peer2); who = peer2
    }
    if (b == "" || p == "") { printf "- %s: best of ours vs %s: not measured\n", short[w], who; return }
    split(b, parts, SUBSEP)
    printf "- %s: best of ours (%s, %s) vs %s (%s): %s\n", short[w], parts[2],
        fmt(w, value[b]), who, fmt(w, p),
        verdict(higher[w] ? value[b] / p : p / value[b], 1)
}

function target_vs_python(ours, py, goal,    i, w, a, b, line) {
    line = ""
    for (i = 1; i <= 5; i++) {
        w = i == 1 ? "conn" : i == 2 ? "echo" : i == 3 ? "http" : i == 4 ? "poetry" : "cpu"
        a = ok_value(w, ours); b = ok_value(w, py)
        line = line sprintf("%s %s; ", short[w],
            (a == "" || b == "") ? "not measured" : verdict(higher[w] ? a / b : b / a, goal))
    }
    printf "- %s vs %s: %s\n", ours, py, substr(line, 1, length(line) - 2)
}

function target_idle(w,    v) {
    v = ok_value(w, "event")
    printf "- event mode, %s: %s\n", short[w],
        v == "" ? "not measured" : sprintf("%.1f KiB (target ≤ 8 KiB): %s", v, v <= 8 ? "met" : "NOT met")
}

# Which mode won each workload, and by how much over the runner-up.
function winners(    i, w, j, s, k, second) {
    print "### Which mode won what\n"
    for (i = 1; i <= nw; i++) {
        w = wl[i]
        if (!(w in best)) { printf "- %s: no mode ran it without errors\n", short[w]; continue }
        second = ""
        for (j = 1; j <= ns; j++) {
            s = order[j]; k = w SUBSEP s
            if (k == best[w] || status[k] != "ok" || value[k] == "" || value[k] + 0 <= 0) continue
            if (second == "" || is_better(w, value[k] + 0, value[second] + 0)) second = k
        }
        printf "- %s: **%s** (%s %s)", short[w], best_name(w), fmt(w, value[best[w]]), unit[w]
        if (second != "") {
            split(second, parts, SUBSEP)
            printf ", %.2f× the next, %s (%s)", 1 / ratio(w, second), parts[2], fmt(w, value[second])
        }
        printf "\n"
    }
    for (j = 1; j <= ns; j++)
        for (i = 1; i <= nw; i++) {
            k = wl[i] SUBSEP order[j]
            if ((k in have) && status[k] != "ok") { printf "- %s, %s: %s\n", order[j], short[wl[i]], note[k] == "" ? "failed" : note[k] }
        }
    print ""
}

function targets() {
    if (machine["handler"] != "") { winners(); return }
    print "### Targets (issue 6), measured in this run\n"
    target_vs_peer("conn", "nginx", "")
    target_vs_peer("http", "nginx", "nginx-static")
    target_vs_peer("echo", "redis", "")
    target_vs_python("thread", "py-threading", 5)
    target_vs_python("fork", "py-forking", 10)
    target_idle("idle1000")
    target_idle("idle10000")
    print ""
    print "### Targets (issue 13), measured in this run\n"
    target_fewer("sys_conn", "event", "nginx")
    target_fewer("sys_echo", "event", "redis")
    print ""
}

# Fewer is the goal: ours (a row) against a peer, side by side.
function target_fewer(w, ours, peer,    a, b) {
    a = ok_value(w, ours); b = ok_value(w, peer)
    if (a == "" || b == "") { printf "- %s: %s vs %s: not measured\n", short[w], ours, peer; return }
    printf "- %s: %s %s vs %s %s (target ≤): %s\n", short[w], ours, fmt(w, a), peer, fmt(w, b),
        a <= b ? "met" : "NOT met"
}

# ---- CSV -------------------------------------------------------------------

function q(s) { gsub(/"/, "\"\"", s); return "\"" s "\"" }

function csv(    f, i, j, w, s, k) {
    f = out "/results.csv"
    print "date,workload,server,kind,status,value,unit,vs_best_peer,best_peer,p50_us,p99_us,p999_us,errors,rounds,note" > f
    for (i = 1; i <= nw; i++) {
        w = wl[i]
        for (j = 1; j <= ns; j++) {
            s = order[j]; k = w SUBSEP s
            if (s in skipped) { print q(machine["date"]) "," w "," s "," kind[s] ",skipped,,,,,,,,,," q(skipped[s]) > f; continue }
            if (!(k in have)) continue
            print q(machine["date"]) "," w "," s "," kind[s] "," status[k] "," value[k] "," unit[w] "," \
                (ratio(w, k) == "" ? "" : sprintf("%.3f", ratio(w, k))) "," \
                ((w in best) ? best_name(w) : "") "," p50[k] "," p99[k] "," p999[k] "," errs[k] "," \
                q(rounds_of[k]) "," q(note[k]) > f
        }
    }
    close(f)
}

# ---- SVG -------------------------------------------------------------------

function xml(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }

# A horizontal bar per server: ours blue, peers orange, rows with errors
# red, capped rows pale; a row that did not run says why.
function svg(w,    f, j, s, k, n, max, y, len, color, label, hgt) {
    f = out "/" w ".svg"; n = 0; max = 0
    for (j = 1; j <= ns; j++) {
        k = w SUBSEP order[j]
        if ((k in have) || (order[j] in skipped)) n++
        if ((k in have) && value[k] + 0 > max) max = value[k] + 0
    }
    hgt = 70 + 24 * n
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"%d\" font-family=\"sans-serif\" font-size=\"13\">\n", hgt > f
    printf "<rect width=\"900\" height=\"%d\" fill=\"white\"/>\n", hgt > f
    printf "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">%s</text>\n", xml(title[w]) > f
    printf "<text x=\"10\" y=\"42\" fill=\"#555\">%s, %s is better; %s; blue: ours, orange: peers, red: errors</text>\n",
        unit[w], higher[w] ? "higher" : "lower", xml(machine["cores"] " cores shared by client and server, " machine["date"]) > f
    y = 56
    for (j = 1; j <= ns; j++) {
        s = order[j]; k = w SUBSEP s
        if (!(k in have) && !(s in skipped)) continue
        printf "<text x=\"160\" y=\"%d\" text-anchor=\"end\">%s</text>\n", y + 15, xml(s) > f
        if ((s in skipped) || status[k] == "na" || value[k] == "" || max <= 0) {
            label = (s in skipped) ? skipped[s] : note[k]
            printf "<text x=\"170\" y=\"%d\" fill=\"%s\">%s: %s</text>\n", y + 15,
                status[k] == "err" ? "#c0392b" : "#777", status[k] == "err" ? "failed" : "n/a",
                xml(substr(label, 1, 100)) > f
        } else {
            len = 560 * (value[k] + 0) / max
            color = kind[s] == "ours" ? "#3b6fb6" : "#e0892f"
            if (status[k] == "err") color = "#c0392b"
            if (status[k] == "capped") color = "#9db7dc"
            printf "<rect x=\"170\" y=\"%d\" width=\"%.1f\" height=\"18\" fill=\"%s\"/>\n", y + 2, len < 1 ? 1 : len, color > f
            label = cell(w, s, 1)
            printf "<text x=\"%.1f\" y=\"%d\">%s</text>\n", 176 + len, y + 15, xml(label) > f
        }
        y += 24
    }
    print "</svg>" > f
    close(f)
}

# The one chart of workload 7: per server, a bar for each of the three
# counts (connection, echo round trip, HTTP request) on one scale.
function svg_syscalls(    f, j, s, g, k, n, max, y, len, hgt, ws, colors, label) {
    split("sys_conn sys_echo sys_http", ws, " ")
    split("#3b6fb6 #e0892f #4f9a5a", colors, " ")
    if (!("sys_conn" in used) && !("sys_echo" in used) && !("sys_http" in used)) return
    f = out "/syscalls.svg"; n = 0; max = 0
    for (j = 1; j <= ns; j++)
        for (g = 1; g <= 3; g++) {
            k = ws[g] SUBSEP order[j]
            if (!(k in have) || value[k] == "") continue
            n++
            if (value[k] + 0 > max) max = value[k] + 0
        }
    hgt = 70 + 22 * n + 8 * ns
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"%d\" font-family=\"sans-serif\" font-size=\"13\">\n", hgt > f
    printf "<rect width=\"900\" height=\"%d\" fill=\"white\"/>\n", hgt > f
    printf "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">7. System calls per operation (strace -c -f), fewer is better</text>\n" > f
    printf "<text x=\"10\" y=\"42\" fill=\"#555\">blue: per connection (thankyou); orange: per echo round trip; green: per HTTP request; %s</text>\n",
        xml(machine["date"]) > f
    y = 56
    for (j = 1; j <= ns; j++) {
        s = order[j]; label = 0
        for (g = 1; g <= 3; g++) {
            k = ws[g] SUBSEP s
            if (!(k in have) || value[k] == "") continue
            if (!label++) printf "<text x=\"160\" y=\"%d\" text-anchor=\"end\">%s</text>\n", y + 15, xml(s) > f
            len = 560 * (value[k] + 0) / max
            printf "<rect x=\"170\" y=\"%d\" width=\"%.1f\" height=\"18\" fill=\"%s\"/>\n", y + 2, len < 1 ? 1 : len, colors[g] > f
            printf "<text x=\"%.1f\" y=\"%d\">%s%s</text>\n", 176 + len, y + 15, fmt(ws[g], value[k]), status[k] == "err" ? " ⚠" : "" > f
            y += 22
        }
        if (label) y += 8
    }
    print "</svg>" > f
    close(f)
}
