"""AWS error answers, parsed by real botocore from the documented wire shape, become skyhop's typed
errors with the scope failover blocks (providers/aws/errors.py).

A tiny loopback server answers each call with one canned error; the client is
an ordinary boto3 client with retries off, so exactly botocore's own parsing
runs between the bytes and `translate`.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import pytest
from cloudsim.aws import MOTO_IMAGE
from cloudsim.aws_wire import CAPACITY_MESSAGE, error_response, parse_call

from skyhop.providers.errors import CLOUD, INSTANCE, REGION, ZONE, AuthError, CapacityError, NotSupportedError, ProviderError, QuotaError

boto3 = pytest.importorskip("boto3")

# The EC2 API reference's error shape, verbatim apart from the message
# (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/query-api-troubleshooting.html).
DOCUMENTED_EC2_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>InsufficientInstanceCapacity</Code><Message>'
    + CAPACITY_MESSAGE.format(type="p5.48xlarge", zone="us-east-1a", others="us-east-1b, us-east-1c").encode()
    + b"</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>"
)


class CannedServer:
    """Answers every request with `answer(service)` -> (status, headers, body), optionally after `hold_s`."""

    def __init__(self) -> None:
        self.answer: Callable[[str], tuple[int, dict[str, str], bytes]] = lambda service: (500, {}, b"")
        self.hold = threading.Event()
        self.hold_s = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if server.hold_s:
                    server.hold.wait(server.hold_s)
                status, headers, answer = server.answer(parse_call(dict(self.headers.items()), body).service)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def canned() -> Iterator[CannedServer]:
    server = CannedServer()
    yield server
    server.stop()


def client(service: str, url: str, read_timeout: float = 10.0):
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=read_timeout, connect_timeout=5)
    return boto3.client(service, region_name="us-east-1", endpoint_url=url, config=config,
                        aws_access_key_id="AKIATESTSKYHOP000000", aws_secret_access_key="skyhop-test-secret")


def run_instances_error(url: str) -> BaseException:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client("ec2", url).run_instances(ImageId=MOTO_IMAGE, InstanceType="p5.48xlarge", MinCount=1, MaxCount=1)
    except (ClientError, BotoCoreError) as error:
        return error
    raise AssertionError("the call succeeded")


def translated(error: BaseException, zone: str | None = "us-east-1a") -> ProviderError:
    from skyhop.providers.aws.errors import translate

    return translate(error, region="us-east-1", zone=zone)


def test_the_documented_capacity_answer_blocks_the_zone(canned):
    canned.answer = lambda service: (500, {"Content-Type": "text/xml;charset=UTF-8"}, DOCUMENTED_EC2_ERROR)
    error = translated(run_instances_error(canned.url))
    assert type(error) is CapacityError and error.scope == ZONE
    assert "us-east-1a" in str(error) and "InsufficientInstanceCapacity" in str(error)
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("code", "status", "kind", "scope"),
    [
        ("InsufficientInstanceCapacity", 500, CapacityError, ZONE),
        ("InsufficientHostCapacity", 500, CapacityError, ZONE),
        ("InsufficientCapacity", 500, CapacityError, ZONE),
        ("UnfulfillableCapacity", 400, CapacityError, ZONE),
        ("SpotMaxPriceTooLow", 400, CapacityError, ZONE),
        ("VcpuLimitExceeded", 400, QuotaError, REGION),
        ("InstanceLimitExceeded", 400, QuotaError, REGION),
        ("MaxSpotInstanceCountExceeded", 400, QuotaError, REGION),
        ("AuthFailure", 401, AuthError, CLOUD),
        ("UnauthorizedOperation", 403, AuthError, CLOUD),
        ("AccessDenied", 403, AuthError, CLOUD),
        ("Unsupported", 400, NotSupportedError, INSTANCE),
        ("RequestLimitExceeded", 503, ProviderError, REGION),
        ("InvalidAMIID.NotFound", 400, ProviderError, None),
        ("InvalidParameterCombination", 400, ProviderError, None),
    ],
)
def test_ec2_error_codes_map_to_typed_errors_with_their_scope(canned, code, status, kind, scope):
    canned.answer = lambda service: error_response(service, code, f"the {code} message", status)
    error = translated(run_instances_error(canned.url))
    assert type(error) is kind and error.scope == scope
    assert code in str(error) and f"the {code} message" in str(error)


def test_an_invalid_sts_token_blocks_the_cloud(canned):
    from botocore.exceptions import ClientError

    canned.answer = lambda service: error_response(service, "InvalidClientTokenId", "The security token included in the request is invalid.", 403)
    with pytest.raises(ClientError) as raised:
        client("sts", canned.url).get_caller_identity()
    assert raised.value.response["Error"]["Type"] == "Sender", "parsed as STS's ErrorResponse shape"
    error = translated(raised.value, zone=None)
    assert type(error) is AuthError and error.scope == CLOUD and "security token" in str(error)


def test_an_ssm_json_error_is_parsed_too(canned):
    from botocore.exceptions import ClientError

    canned.answer = lambda service: error_response(service, "AccessDeniedException", "not authorized to perform: ssm:GetParameter", 400)
    with pytest.raises(ClientError) as raised:
        client("ssm", canned.url).get_parameter(Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")
    error = translated(raised.value, zone=None)
    assert type(error) is AuthError and "ssm:GetParameter" in str(error)


def test_an_api_that_does_not_answer_in_time_blocks_the_region(canned):
    from botocore.exceptions import ReadTimeoutError

    canned.hold_s = 30.0
    canned.answer = lambda service: error_response(service, "InsufficientInstanceCapacity", "late", 500)
    with pytest.raises(ReadTimeoutError) as raised:
        client("ec2", canned.url, read_timeout=0.5).describe_instances()
    error = translated(raised.value)
    assert isinstance(error, ProviderError) and type(error).__name__ == "ApiTimeout" and error.scope == REGION and "us-east-1" in str(error)


def test_missing_credentials_are_an_auth_error():
    from botocore.exceptions import NoCredentialsError

    error = translated(NoCredentialsError())
    assert type(error) is AuthError and error.scope == CLOUD and "skyhop check" in str(error)


@pytest.mark.parametrize("config", ["", "[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key\n"])
def test_a_missing_profile_or_a_broken_aws_file_is_an_auth_error_not_a_crash(tmp_path, monkeypatch, config):
    """`AWS_PROFILE=nosuch` or an unparsable ~/.aws/credentials made `skyhop check` a 500 (botocore raised in Session())."""
    from skyhop.providers.aws.ec2 import caller_identity

    (tmp_path / "credentials").write_text(config)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    if not config:
        monkeypatch.setenv("AWS_PROFILE", "nosuch")
    with pytest.raises(AuthError) as raised:
        caller_identity()
    assert raised.value.scope == CLOUD and "skyhop check" in str(raised.value)


def test_a_login_that_ssh_could_read_as_an_option_is_refused_when_the_settings_are_read():
    """`aws.ssh_user` is checked before anything is created (the SSH layer would refuse it only after RunInstances)."""
    from skyhop.errors import ConfigError
    from skyhop.providers.aws.settings import parse

    with pytest.raises(ConfigError, match="aws.ssh_user: expected a login name"):
        parse({"ssh_user": "-oProxyCommand=touch /tmp/p"})
    assert parse({"ssh_user": "ec2-user"}).ssh_user == "ec2-user"
