"""The HTML pages' templates, as plain Jinja2 text (easy to read and diff, like the prompts).

Autoescape is on for every template and `StrictUndefined` makes a misspelt field an error,
not an empty cell. Nothing here loads from the network: the CSS is inline, the charts are
inline SVG, there is no script.
"""

from __future__ import annotations

import io
from functools import cache

CSS = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 1180px; padding: 1em 2em; color: #1d1d1f; }
h1 { font-size: 1.5em; margin-bottom: 0; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.sub { color: #666; font-size: 0.9em; } table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 3px 8px; vertical-align: top; font-size: 0.9em; text-align: left; }
th { background: #f4f4f6; } .num { text-align: right; font-variant-numeric: tabular-nums; }
.open { color: #b3261e; font-weight: 600; } .ev { color: #555; font-size: 0.85em; }
.unit { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1em; margin: 0.8em 0; }
.unit > .text { border-left: 3px solid #ccc; padding-left: 0.8em; }
.label { font-size: 0.8em; color: #666; text-transform: uppercase; letter-spacing: 0.04em; }
mark { padding: 0 1px; border-radius: 2px; } sup { font-size: 0.7em; color: #444; }
mark.supported { background: #d6f5dc; } mark.partial { background: #fff0b3; }
mark.unsupported { background: #ffd0cc; text-decoration: underline wavy #b3261e; }
.notes { font-size: 0.82em; color: #333; } .notes p { margin: 0 0 0.4em 0; }
.notes .unsupported { color: #8a1c14; } .notes .partial { color: #6b5200; } .notes .supported { color: #1e5b2a; }
.problem { color: #8a1c14; font-size: 0.85em; } .comment { background: #eef3ff; padding: 2px 6px; font-size: 0.85em; margin: 2px 0; }
.diff { font-size: 0.85em; color: #444; margin-top: 0.4em; } ins { background: #d6f5dc; text-decoration: none; }
del { background: #ffd0cc; } details { margin: 0.3em 0; } .chart svg { max-width: 100%; height: auto; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; } .pair > div { border: 1px solid #ddd; padding: 0.5em; font-size: 0.85em; }
.pass { color: #1e5b2a; font-weight: 600; } .fail { color: #8a1c14; font-weight: 600; } .unsure { color: #6b5200; font-weight: 600; }
"""

_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{{ title }}</title><style>{{ css }}</style></head><body>
<h1>{{ title }}</h1><p class="sub">{{ subtitle }}</p>
"""

THREAD = _HEAD + """
{% if structure %}
<h2>Argument structure</h2>
<p><b>Gap.</b> {{ structure.gap }} <b>Insight.</b> {{ structure.insight }}</p>
<table><tr><th>claim</th><th>text</th><th>evidence it cites</th></tr>
{% for row in ledger %}<tr id="claim-{{ row.id }}"><td>{{ row.id }}</td><td>{{ row.text }}</td><td>
{% if row.open %}<span class="open">open: no evidence yet</span>{% endif %}
{% for e in row.evidence %}<div><b>{{ e.id }}</b> <span class="ev">({{ e.kind }}, {{ e.location }})</span> {{ e.finding }}</div>{% endfor %}
{% for m in row.missing %}<div class="open">{{ m }}: not in the evidence</div>{% endfor %}
</td></tr>{% endfor %}
</table>
<p>Contributions: {% for c in structure.contributions %}<span>{{ loop.index }}. {{ c }} </span>{% endfor %}</p>
{% elif evidence %}
<h2>Evidence the check read</h2>
<table><tr><th>id</th><th>finding</th></tr>
{% for e in evidence %}<tr><td>{{ e.id }}</td><td>{{ e.finding }}</td></tr>{% endfor %}</table>
{% endif %}

{% if revisions|length > 1 %}
<h2>Scores per revision</h2>
<table><tr><th>revision</th><th>closure (check)</th><th>unsupported</th><th>dropped</th><th>role order</th><th>words</th>
<th>overall</th><th>closure</th><th>flow</th><th>clarity</th><th>significance</th></tr>
{% for r in revisions %}<tr><td>{{ r.number }}</td>
{% if r.check %}<td class="num">{{ "%.2f"|format(r.check.closure_rate) if r.check.closure_rate is not none else "—" }}</td>
<td class="num">{{ r.check.unsupported_claims|length }}</td><td class="num">{{ r.check.dropped_contributions|length }}</td>
<td class="num">{{ r.check.role_order_violations|length }}</td>
<td class="num">{{ r.check.length.abstract_words + r.check.length.introduction_words }}</td>
{% else %}<td colspan="5">not checked</td>{% endif %}
{% if r.review %}{% for k in ["overall", "closure", "flow", "clarity", "significance"] %}<td class="num">{{ r.review.scores[k] }}</td>{% endfor %}
{% else %}<td colspan="5">{{ "review failed the schema" if r.review_error else "no model review" }}</td>{% endif %}
</tr>{% endfor %}</table>
{% endif %}

{% for r in revisions %}
<h2 id="revision-{{ r.number }}">{{ "Draft" if r.number == 0 else "Revision " ~ r.number }}</h2>
{% if r.check %}
<p class="sub">closure {{ "%.2f"|format(r.check.closure_rate) if r.check.closure_rate is not none else "—" }} ·
{{ r.check.unsupported_claims|length }} unsupported · words {{ r.check.length.abstract_words }} + {{ r.check.length.introduction_words }}
(targets {{ r.check.length.target_abstract_words }} + {{ r.check.length.target_introduction_words }})</p>
{% for d in r.check.dropped_contributions %}<p class="problem">dropped contribution: {{ d }}</p>{% endfor %}
{% for o in r.check.open_commitments %}<p class="problem">open commitment: {{ o }}</p>{% endfor %}
{% endif %}
{% if r.review_error %}<p class="problem">reviewer output failed the schema: {{ r.review_error }}</p>{% endif %}
{% for u in r.units %}
<div class="unit" id="r{{ r.number }}-{{ u.id }}"><div class="text"><div class="label">{{ u.label }}</div>
{% for p in u.problems %}<div class="problem">{{ p }}</div>{% endfor %}
<p>{% for s in u.segments %}{% if s.verdict %}<mark class="{{ s.verdict }}" title="{{ s.verdict }}: {{ s.note }}">{{ s.text }}</mark><sup>{{ s.number }}</sup>{% else %}{{ s.text }}{% endif %}{% endfor %}</p>
{% for c in u.comments %}<div class="comment">review: {{ c }}</div>{% endfor %}
{% if u.diff is not none %}<details class="diff"{% if r.number > 0 %} open{% endif %}><summary>changes from the revision before</summary>
{% for op, words in u.diff %}{% if op == "add" %}<ins>{{ words }}</ins> {% elif op == "del" %}<del>{{ words }}</del> {% else %}{{ words }} {% endif %}{% endfor %}
</details>{% endif %}
</div><div class="notes">
{% for n in u.notes %}<p class="{{ n.verdict }}"><sup>{{ n.number }}</sup> <b>{{ n.verdict }}</b>: {{ n.note }}</p>{% endfor %}
</div></div>
{% endfor %}
{% if r.review %}
<details><summary>the model's review</summary>
<p><b>Central realization:</b> {{ r.review.central_realization.text }}</p>
{% for s in r.review.strengths %}<p>strength: {{ s }}</p>{% endfor %}
{% for w in r.review.weaknesses %}<p>weakness ({{ w.paragraph_id }}): {{ w.issue }} — {{ w.suggestion }}</p>{% endfor %}
</details>
{% endif %}
{% if r.generations %}
<table><tr><th>agent</th><th>purpose</th><th>model</th><th>adapter</th><th>prompt tokens</th><th>completion tokens</th><th>seconds</th><th>parse</th></tr>
{% for g in r.generations %}<tr><td>{{ g.agent }}</td><td>{{ g.purpose }}</td><td>{{ g.model_id }}</td><td>{{ g.adapter_id or "—" }}</td>
<td class="num">{{ g.prompt_tokens }}</td><td class="num">{{ g.completion_tokens }}</td><td class="num">{{ "%.1f"|format(g.seconds) }}</td><td>{{ g.parse_status }}</td></tr>{% endfor %}
</table>
{% endif %}
{% endfor %}
</body></html>
"""

ROUND = _HEAD + """
<table><tr><th>status</th><td>{{ m.status }}</td><th>decision</th><td>{{ m.decision or "not reached" }}</td>
<th>parent</th><td>{{ m.parent.id }}</td><th>base model</th><td>{{ m.base_model }}</td></tr></table>
{% for r in m.reasons %}<p>{{ r }}</p>{% endfor %}

<h2>Every round so far</h2>
<p class="sub">Each round's paired difference from its parent on the held-out items, with its 95% interval.</p>
<div class="chart">{{ rounds_svg|safe }}</div>

<h2>The gate's checks</h2>
{% if m.eval_metrics and m.eval_metrics.checks %}
<p class="sub">{{ m.eval_metrics.items }} paired items (held-out structure x seed); candidate - current.</p>
<table><tr><th>check</th><th>result</th><th>detail</th></tr>
{% for c in m.eval_metrics.checks %}<tr><td>{{ c.name }}</td><td class="{{ c.outcome }}">{{ c.outcome }}</td><td>{{ c.text }}</td></tr>{% endfor %}
</table>
<table><tr>{% for h in comparison_header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in comparison_rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>
{% else %}<p>not reached</p>{% endif %}

<h2>Training</h2>
{% if train_svg %}<div class="chart">{{ train_svg|safe }}</div>{% else %}<p>no training log{{ "" if m.train_metrics else ": not reached" }}</p>{% endif %}
{% if m.train_metrics %}<table>{% for k, v in m.train_metrics.items() %}<tr><td>{{ k }}</td><td class="num">{{ "%.4g"|format(v) }}</td></tr>{% endfor %}</table>{% endif %}

<h2>Pairs</h2>
{% if sources %}
{% for s in sources %}
<h3>{{ s.name }}: {{ s.count }} rows</h3>
{% for p in s.examples %}
<p class="sub">{{ p.unit }} · margin {{ "%.3f"|format(p.margin) }} on {{ p.basis }}</p>
<div class="pair"><div><b>chosen</b> (reward {{ p.chosen_reward }})<p>{{ p.chosen }}</p>{{ p.chosen_parts }}</div>
<div><b>rejected</b> (reward {{ p.rejected_reward }})<p>{{ p.rejected }}</p>{{ p.rejected_parts }}</div></div>
{% endfor %}
{% endfor %}
{% else %}<p>not reached</p>{% endif %}

{% if m.timings %}<h2>Timings</h2><table>{% for k, v in m.timings.items() %}<tr><td>{{ k }}</td><td class="num">{{ "%.0f"|format(v) }} s</td></tr>{% endfor %}</table>{% endif %}
</body></html>
"""

TEMPLATES = {"thread": THREAD, "round": ROUND}


@cache
def _environment():
    from jinja2 import Environment, StrictUndefined  # jinja2 comes with transformers

    return Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(name: str, **values) -> str:
    return _environment().from_string(TEMPLATES[name]).render(css=CSS, **values)


def figure_svg(fig) -> str:
    """A matplotlib figure as an SVG element for an HTML body (text drawn as paths: no font to
    fetch), without the XML prolog and the DOCTYPE, which names a DTD by URL."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg")
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg"):]
