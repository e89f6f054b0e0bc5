"""One serving path for every surface (chat completions today; Responses, Messages, embeddings
translate into it at their edge).

    admission = await admit(...)        limits (router/serving/admission.py)
    plan = await plan_request(...)      policy, routing text, scores, decision (router/plan.py)
    upstream.chat / chat_stream         LiteLLM; a typed UpstreamResult (router/upstream.py)
    CallRecord.succeeded / failed       decision row, metrics, settlement, answer sinks
                                        (router/serving/record.py)

:func:`serve` (router/serving/path.py) runs it; a route file only translates its wire format.

Two seams for what builds on serving:

(a) **Admission and settlement** (``admission.py``). One :class:`Admission` per request:
    ``admission = await admit(state, identity)`` before planning and the upstream call (raises the
    429), and ``admission.settle(tokens, cost_usd, status)`` exactly once when the request ends:
    a JSON answer (``ok``), a stream's end (``ok``), a stream closed early (``client_closed``), a
    failure (``upstream_error``, ``upstream_timeout``, ``stream_error``), a refusal after admission
    (``refused``). Today it calls ``KeyLimiter.admit`` / ``KeyLimiter.record``; reservations (hold
    an estimate at admission, settle the actual) replace the inside, not the calls.

(b) **Answered-request hook** (``answered.py``). After each answered request, serving calls
    ``sink.answered(call)`` for each sink in ``app.state.answer_sinks`` (a list, empty by
    default) with a frozen :class:`AnsweredCall`: decision id, surface, policy, requested model,
    chosen and answering model, routing text, the upstream messages and parameters sent, the
    answer's text and tool calls, whether the request had tools, usage, cost, client key id and
    the plan's candidate estimates. A sink must return at once (queue, then work elsewhere, e.g.
    judge grading and shadow calls); its exceptions are logged, never raised into serving.
"""

from router.serving.admission import Admission, admit
from router.serving.answered import AnsweredCall, AnswerSink, notify
from router.serving.path import Context, Served, ServedStream, decision_headers, serve

__all__ = ["Admission", "AnsweredCall", "AnswerSink", "Context", "Served", "ServedStream", "admit",
           "decision_headers", "notify", "serve"]
