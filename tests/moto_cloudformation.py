"""What moto's CloudFormation lacks to deploy template.yaml, added for tests/test_deploy_cmd.py.

moto 5 deploys most of the template for real (the role and its policies, the log group,
the function from its S3 zip, the rule, the permission, the alarm, the managed policy,
parameters, conditions, Fn::Split/Join/Sub), but:

- it has no model for `AWS::Lambda::Alias` nor `AWS::Lambda::EventInvokeConfig`: it skips
  them with a warning, so `!Ref LiveAlias` is None and the rule's target fails (KeyError);
- its `AWS::Lambda::Version` answers no `Fn::GetAtt` (`Version.Version` fails) and is never
  updated: a changed description does not publish a new version, so LIVE could not move;
- an update's `UsePreviousValue` fails (KeyError) for a parameter left at its default: moto
  remembers only the values given, though DescribeStacks lists them all (as AWS does).

- it has no model for `AWS::Lambda::Url` (the links' function URL): `LinkUrl`'s
  `Fn::GetAtt FunctionUrl` fails.

(`AWS::CloudWatch::Alarm` is skipped with a warning too; nothing refers to it.)

The models below fill exactly those gaps with moto's own Lambda backend (create_alias,
update_alias, publish_version): what they do is what CloudFormation does, in one call.
Importing this module registers them (moto finds CloudFormationModel subclasses), and
`patch` is applied for the length of a test.
"""

from __future__ import annotations

from typing import Any

import pytest
from moto.awslambda.models import LambdaVersion, lambda_backends
from moto.cloudformation.models import CloudFormationBackend
from moto.core.common_models import CloudFormationModel


class LambdaAliasModel(CloudFormationModel):
    """AWS::Lambda::Alias: Ref is the alias ARN."""

    def __init__(self, arn: str) -> None:
        self.arn = arn

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Alias"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LambdaAliasModel:
        props = cloudformation_json["Properties"]
        alias = lambda_backends[account_id][region_name].create_alias(
            name=props["Name"],
            function_name=props["FunctionName"],
            function_version=str(props["FunctionVersion"]),
            description=props.get("Description", ""),
            routing_config=None,
        )
        return cls(alias.arn)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: LambdaAliasModel,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> LambdaAliasModel:
        props = cloudformation_json["Properties"]
        lambda_backends[account_id][region_name].update_alias(
            name=props["Name"],
            function_name=props["FunctionName"],
            function_version=str(props["FunctionVersion"]),
            description=props.get("Description", ""),
            routing_config=None,
        )
        return original_resource


class EventInvokeConfigModel(CloudFormationModel):
    """AWS::Lambda::EventInvokeConfig: accepted, not modelled (retries are not tested here)."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"

    @property
    def physical_resource_id(self) -> str:
        return "event-invoke-config"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> EventInvokeConfigModel:
        return cls()

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: EventInvokeConfigModel,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> EventInvokeConfigModel:
        return original_resource


class LambdaUrlModel(CloudFormationModel):
    """AWS::Lambda::Url: the function URL made by moto's Lambda backend; `FunctionUrl`."""

    def __init__(self, target: str, url: str) -> None:
        self.target, self.url = target, url

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Url"

    @property
    def physical_resource_id(self) -> str:
        return self.target

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("FunctionUrl", "FunctionArn")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.url if attribute_name == "FunctionUrl" else self.target

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LambdaUrlModel:
        props = cloudformation_json["Properties"]
        target = str(props["TargetFunctionArn"])
        # moto keeps one URL per function and refuses a qualified ARN: the alias's function.
        function = ":".join(target.split(":")[:7])
        made = lambda_backends[account_id][region_name].create_function_url_config(
            name_or_arn=function, config={"AuthType": props["AuthType"]}
        )
        return cls(target, str(made.to_dict()["FunctionUrl"]))

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: LambdaUrlModel,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> LambdaUrlModel:
        return original_resource


def _version_attribute(self: LambdaVersion, attribute_name: str) -> str:
    if attribute_name == "Version":
        return str(self.version)
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

    raise UnformattedGetAttTemplateException()


def _publish_again(
    cls: type[LambdaVersion],
    original_resource: LambdaVersion,
    new_resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> LambdaVersion:
    # A version cannot change: CloudFormation replaces it, which publishes a new one.
    return cls.create_from_cloudformation_json(
        new_resource_name, cloudformation_json, account_id, region_name
    )


def _previous_values(
    self: CloudFormationBackend, instance: Any, incoming_params: list[dict[str, Any]]
) -> dict[str, str]:
    # As AWS: a previous value is the stack's value, given or defaulted.
    values = dict(instance.stack_parameters)
    return {
        p["ParameterKey"]: p["ParameterValue"]
        if "ParameterValue" in p
        else values[p["ParameterKey"]]
        for p in incoming_params
    }


def patch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give moto's AWS::Lambda::Version `Fn::GetAtt Version` and a new version on update,
    and its updates the previous value of a defaulted parameter."""
    monkeypatch.setattr(CloudFormationBackend, "_resolve_update_parameters", _previous_values)
    monkeypatch.setattr(LambdaVersion, "get_cfn_attribute", _version_attribute, raising=False)
    monkeypatch.setattr(
        LambdaVersion, "has_cfn_attr", classmethod(lambda cls, attr: attr == "Version")
    )
    monkeypatch.setattr(
        LambdaVersion, "update_from_cloudformation_json", classmethod(_publish_again)
    )
