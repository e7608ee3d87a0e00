#!/usr/bin/env bash
# Installs componentize-py into .tools/venv: the tests build a connector
# written in Python with it, to check components from other toolchains.
# Also spyne and lxml: the SOAP connector's tests run a spyne service
# (tests/soap/service.py) with the venv's python. And the vendors' own
# clients of the SaaS fakes (jira, slack_sdk), which check the fakes'
# answers (tests/vendor_clients/check.py); and scim2-client, a SCIM 2.0
# client library, which checks the host's own SCIM service (tests/scim/client.py).
set -euo pipefail
cd "$(dirname "$0")/.."

COMPONENTIZE_PY_VERSION=0.25.1
SPYNE_VERSION=2.14.0
LXML_VERSION=6.1.3
JIRA_VERSION=3.10.5
SLACK_SDK_VERSION=3.48.0
SCIM2_CLIENT_VERSION=0.13.2
SCIM2_MODELS_VERSION=0.12.3
HTTPX2_VERSION=2.17.0
venv=.tools/venv

soap_tools() {
    "$venv/bin/python" -c "import sys, spyne, lxml.etree as e; sys.exit(not (spyne.__version__ == '$SPYNE_VERSION' and e.__version__.startswith('$LXML_VERSION')))" 2>/dev/null
}
vendor_clients() {
    "$venv/bin/python" -c "import sys, jira, slack_sdk.version as s; sys.exit(not (jira.__version__ == '$JIRA_VERSION' and s.__version__ == '$SLACK_SDK_VERSION'))" 2>/dev/null
}
scim_client() {
    "$venv/bin/python" -c "import sys, importlib.metadata as m; sys.exit(not (m.version('scim2-client') == '$SCIM2_CLIENT_VERSION' and m.version('scim2-models') == '$SCIM2_MODELS_VERSION' and m.version('httpx2') == '$HTTPX2_VERSION'))" 2>/dev/null
}
PYTHON_PACKAGES=("spyne==$SPYNE_VERSION" "lxml==$LXML_VERSION" "jira==$JIRA_VERSION" "slack_sdk==$SLACK_SDK_VERSION"
    "scim2-client==$SCIM2_CLIENT_VERSION" "scim2-models==$SCIM2_MODELS_VERSION" "httpx2==$HTTPX2_VERSION")

if [ -x "$venv/bin/componentize-py" ] &&
    [ "$("$venv/bin/componentize-py" --version 2>/dev/null | awk '{print $2}')" = "$COMPONENTIZE_PY_VERSION" ]; then
    if soap_tools && vendor_clients && scim_client; then
        exit 0
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${PYTHON_PACKAGES[@]}"
    echo "setup-python-tools: ${PYTHON_PACKAGES[*]} installed in $venv" >&2
    exit 0
fi

python=$(command -v python3 || true)
if [ -z "$python" ]; then
    echo "setup-python-tools: python3 is required (apt-get install python3 python3-venv)" >&2
    exit 1
fi
if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' 2>/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
        echo "setup-python-tools: python3's venv module is missing (apt-get install python3-venv)" >&2
        exit 1
    fi
fi
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION" \
    "${PYTHON_PACKAGES[@]}"
echo "setup-python-tools: componentize-py $COMPONENTIZE_PY_VERSION, ${PYTHON_PACKAGES[*]} installed in $venv" >&2
