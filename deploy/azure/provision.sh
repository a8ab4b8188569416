#!/usr/bin/env bash
# Provisions AutoBuilder's Azure side with the az CLI: a StorageV2 account (Standard_LRS), its four containers,
# lifecycle rules (old uploads and build outputs expire; artifacts are kept), and a user-assigned managed identity
# with "Storage Blob Data Contributor" on that account only, federated with the dispatcher's and the API's
# Kubernetes service accounts (Azure Workload Identity): no account key or connection string anywhere.
#
#   RESOURCE_GROUP=autobuilder STORAGE_ACCOUNT=autobuilderstore AKS_CLUSTER=aks-builds ./deploy/azure/provision.sh
#
# Without an AKS cluster (AKS_CLUSTER unset) it stops after the role assignment; USE_CONNECTION_STRING=1 instead
# prints the kubectl command that stores the account's connection string in autobuilder-secrets (the fallback).
set -euo pipefail

: "${RESOURCE_GROUP:?set RESOURCE_GROUP}"
: "${STORAGE_ACCOUNT:?set STORAGE_ACCOUNT (3-24 lower-case letters and digits)}"
LOCATION="${LOCATION:-koreacentral}"
NAMESPACE="${NAMESPACE:-auto-builder}"
IDENTITY="${IDENTITY:-autobuilder}"
CONTAINERS="${CONTAINERS:-uploads projects artifacts cache}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

az group create --name "$RESOURCE_GROUP" --location "$LOCATION" --output none

az storage account create \
  --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" \
  --kind StorageV2 --sku Standard_LRS \
  --min-tls-version TLS1_2 --allow-blob-public-access false --allow-shared-key-access "${ALLOW_SHARED_KEY:-false}" \
  --output none

for container in $CONTAINERS; do
  az storage container create --account-name "$STORAGE_ACCOUNT" --name "$container" --auth-mode login --output none
done

az storage account management-policy create \
  --account-name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" \
  --policy "@$HERE/lifecycle-policy.json" --output none

if [[ "${USE_CONNECTION_STRING:-0}" == "1" ]]; then
  echo "Fallback without workload identity (needs ALLOW_SHARED_KEY=true): run"
  echo "  kubectl -n $NAMESPACE create secret generic autobuilder-secrets --from-literal=AZURE_STORAGE_CONNECTION_STRING=\"\$(az storage account show-connection-string -g $RESOURCE_GROUP -n $STORAGE_ACCOUNT -o tsv)\" ..."
  exit 0
fi

az identity create --name "$IDENTITY" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" --output none
CLIENT_ID="$(az identity show --name "$IDENTITY" --resource-group "$RESOURCE_GROUP" --query clientId --output tsv)"
PRINCIPAL_ID="$(az identity show --name "$IDENTITY" --resource-group "$RESOURCE_GROUP" --query principalId --output tsv)"
ACCOUNT_ID="$(az storage account show --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" --query id --output tsv)"

az role assignment create \
  --assignee-object-id "$PRINCIPAL_ID" --assignee-principal-type ServicePrincipal \
  --role "Storage Blob Data Contributor" --scope "$ACCOUNT_ID" --output none

if [[ -n "${AKS_CLUSTER:-}" ]]; then
  ISSUER="$(az aks show --name "$AKS_CLUSTER" --resource-group "$RESOURCE_GROUP" --query oidcIssuerProfile.issuerUrl --output tsv)"
  for account in autobuilder-dispatcher autobuilder-api; do
    az identity federated-credential create \
      --name "$account" --identity-name "$IDENTITY" --resource-group "$RESOURCE_GROUP" \
      --issuer "$ISSUER" --subject "system:serviceaccount:$NAMESPACE:$account" --audiences api://AzureADTokenExchange \
      --output none
  done
fi

echo "Storage account: $STORAGE_ACCOUNT ($LOCATION); containers: $CONTAINERS"
echo "Set azure.workload.identity/client-id to $CLIENT_ID in deploy/kubernetes/overlays/azure/workload-identity-patch.yaml"
echo "and AZURE_STORAGE_ACCOUNT_NAME to $STORAGE_ACCOUNT in overlays/azure/configmap-patch.yaml."
