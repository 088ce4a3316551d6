#!/usr/bin/python3
"""gen-chat-template-expected.py - render fixed conversations through every
chat template in ../shared/models/chat-templates with Python's Jinja2, set up
exactly as Hugging Face transformers applies a chat template, and store the
inputs and expected outputs for tests/text/test-chat-templates.c.

Usage: tools/gen-chat-template-expected.py [TEMPLATE_DIR] [OUTPUT_JSON]
Needs only Debian's python3 and python3-jinja2.
"""
import calendar
import datetime
import json
import os
import sys

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TEMPLATE_DIR = os.path.join(REPO, "..", "shared", "models", "chat-templates")
OUTPUT = os.path.join(REPO, "tests", "text", "chat-templates", "expected.json")

# strftime_now() renders this fixed moment (the C side gets it as now_unix, UTC).
NOW = datetime.datetime(2024, 7, 26, 10, 30, 0)
NOW_UNIX = calendar.timegm(NOW.timetuple())


class RaisedError(Exception):
    pass


class GenerationTag(jinja2.ext.Extension):
    """transformers' {% generation %} tag, minus the index tracking: its body
    renders as it is."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def compile_template(source):
    """As transformers' _compile_jinja_template (chat_template_utils.py)."""

    def raise_exception(message):
        raise RaisedError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                          separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return NOW.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


# Special tokens per template family; others get the generic pair.
TOKENS = {
    "meta-llama": ("<|begin_of_text|>", "<|eot_id|>"),
    "NousResearch-Hermes-2": ("<|begin_of_text|>", "<|im_end|>"),
    "NousResearch-Hermes-3": ("<|begin_of_text|>", "<|im_end|>"),
    "fireworks-ai": ("<|begin_of_text|>", "<|eot_id|>"),
    "meetkai": ("<|begin_of_text|>", "<|eot_id|>"),
    "deepseek-ai-DeepSeek-R1-Distill-Llama": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "deepseek-ai-DeepSeek-R1-Distill-Qwen": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "llama-cpp-deepseek-r1": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "Qwen": ("", "<|im_end|>"),
    "google-gemma": ("<bos>", "<eos>"),
    "mistralai": ("<s>", "</s>"),
    "microsoft-Phi": ("<s>", "<|endoftext|>"),
    "CohereForAI": ("<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"),
}
GENERIC_TOKENS = ("<s>", "</s>")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"],
                         "description": "Temperature unit"},
                "days": {"type": "integer", "description": "Days ahead", "maximum": 7},
            },
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a time zone",
        "parameters": {"type": "object",
                       "properties": {"tz": {"type": "string"}},
                       "required": []},
    },
}


def tool_conversation(arguments):
    return [
        {"role": "system", "content": "You are a helpful assistant with tools."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather",
         "content": "{\"temperature\": 21, \"condition\": \"sunny\"}"},
        {"role": "assistant", "content": "It is 21 °C and sunny in Paris."},
        {"role": "user", "content": "Thanks!"},
    ]


# name -> context (besides bos_token/eos_token). tools/documents are passed
# as None when absent, as transformers does.
CASES = {
    "user": {"messages": [{"role": "user", "content": "Hello!"}],
             "add_generation_prompt": True},
    "system": {"messages": [{"role": "system", "content": "You are a pirate."},
                            {"role": "user", "content": "Hi there"}],
               "add_generation_prompt": True},
    "multi": {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"}],
        "add_generation_prompt": True},
    "multi-no-prompt": {"messages": [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Another one."},
        {"role": "assistant", "content": "  Green.  "}],
        "add_generation_prompt": False},
    "unicode": {"messages": [
        {"role": "user", "content": "Héllo «wörld» 你好 🙂\n\t\"quoted\" and 'single' \\ back"},
        {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nRéponse: ok"},
        {"role": "user", "content": "Tab\there & <b>tags</b>"}],
        "add_generation_prompt": True},
    "tools": {"messages": tool_conversation({"city": "Paris", "unit": "celsius"}),
              "tools": [WEATHER_TOOL, TIME_TOOL], "add_generation_prompt": True},
    "tools-string-args": {"messages": tool_conversation("{\"city\": \"Paris\"}"),
                          "tools": [WEATHER_TOOL], "add_generation_prompt": False},
    "tools-offered": {"messages": [{"role": "user", "content": "Time in Tokyo?"}],
                      "tools": [TIME_TOOL], "add_generation_prompt": True},
    "not-alternating": {"messages": [{"role": "user", "content": "one"},
                                     {"role": "user", "content": "two"}],
                        "add_generation_prompt": True},
    "assistant-first": {"messages": [{"role": "assistant", "content": "I start."},
                                     {"role": "user", "content": "ok"}],
                        "add_generation_prompt": False},
    "empty": {"messages": [], "add_generation_prompt": True},
    # every property described, as Command R+ requires; functions/datetime
    # are the extra context firefunction-v2 reads
    "tools-described": {"messages": tool_conversation("{\"city\": \"Paris\"}"),
                        "tools": [WEATHER_TOOL], "add_generation_prompt": True,
                        "functions": json.dumps([WEATHER_TOOL["function"]], indent=2),
                        "datetime": "2024-07-26"},
    "functions": {"messages": [{"role": "system", "content": "  Use tools wisely.  "},
                               {"role": "user", "content": "Weather in Rome?"}],
                  "add_generation_prompt": True,
                  "functions": json.dumps([WEATHER_TOOL["function"]]),
                  "datetime": "2024-07-26"},
    "cohere-tools": {"messages": [{"role": "user", "content": "Find the weather"}],
                     "tools": [{"name": "internet_search",
                                "description": "Returns a list of relevant document snippets",
                                "parameter_definitions": {
                                    "query": {"description": "Query to search the internet with",
                                              "type": "str", "required": True},
                                    "limit": {"description": "How many results",
                                              "type": "int", "required": False}}}],
                     "add_generation_prompt": True},
    "documents": {"messages": [{"role": "system", "content": "Answer from the documents."},
                               {"role": "user", "content": "What is the capital of France?"}],
                  "documents": [{"title": "France", "text": "Paris is the capital of France."},
                                {"title": "Fruit", "text": "Apples are \"red\" — or green."}],
                  "tools": [WEATHER_TOOL], "add_generation_prompt": True},
}


def tokens_for(name):
    for prefix, pair in TOKENS.items():
        if name.startswith(prefix):
            return pair
    return GENERIC_TOKENS


def main():
    template_dir = sys.argv[1] if len(sys.argv) > 1 else TEMPLATE_DIR
    output = sys.argv[2] if len(sys.argv) > 2 else OUTPUT
    names = sorted(f[:-len(".jinja")] for f in os.listdir(template_dir) if f.endswith(".jinja"))
    cases = {}
    for case, ctx in CASES.items():
        full = {"messages": ctx["messages"], "tools": ctx.get("tools"),
                "documents": ctx.get("documents"),
                "add_generation_prompt": ctx["add_generation_prompt"]}
        for key, value in ctx.items():
            full.setdefault(key, value)
        cases[case] = full
    templates = {}
    for name in names:
        with open(os.path.join(template_dir, name + ".jinja"), "rb") as f:
            raw = f.read()
        source = raw.decode("utf-8")
        tmpl = compile_template(source)
        bos, eos = tokens_for(name)
        results = {}
        for case, ctx in cases.items():
            try:
                out = tmpl.render(bos_token=bos, eos_token=eos, **ctx)
                results[case] = {"output": out}
            except RaisedError as e:
                results[case] = {"raise": str(e)}
            except Exception as e:  # the template fails in Python too
                results[case] = {"error": "%s: %s" % (type(e).__name__, e)}
        templates[name] = {"bytes": len(raw), "bos_token": bos, "eos_token": eos,
                           "results": results}
    doc = {
        "generator": "tools/gen-chat-template-expected.py",
        "jinja2_version": jinja2.__version__,
        "now_unix": NOW_UNIX,
        "cases": cases,
        "templates": templates,
    }
    with open(output, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    total = sum(len(t["results"]) for t in templates.values())
    print("wrote %s: %d templates, %d cases" % (output, len(templates), total))


if __name__ == "__main__":
    main()
