using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using Microsoft.Extensions.Configuration;

namespace AutoBuilder.Server.Tests.Hosting;

/// <summary>The provider-choosing keys: the enums' names in any case, unset is the default, anything else names the key and the names.</summary>
public sealed class ConfigurationChoiceTests
{
    [Theory]
    [InlineData("Kubernetes", ExecutorKind.Kubernetes)]
    [InlineData("kubernetes", ExecutorKind.Kubernetes)]
    [InlineData("LOCAL", ExecutorKind.Local)]
    [InlineData(" Local ", ExecutorKind.Local)]
    public void Read_AName_InAnyCase_IsThatChoice(string value, ExecutorKind expected) =>
        Assert.Equal(expected, ConfigurationChoice.Read(Configuration(ExecutorOptions.KindKey, value), ExecutorOptions.KindKey, ExecutorKind.Local));

    [Fact]
    public void Read_Unset_IsTheDefault() =>
        Assert.Equal(RunnerPlacement.Process, ConfigurationChoice.Read(Configuration("Other:Key", "x"), ExecutorOptions.RunnerKey, RunnerPlacement.Process));

    [Theory]
    [InlineData("Thread")]
    [InlineData("1")]
    [InlineData("InProcess,Process")]
    [InlineData("")]
    public void Read_AnythingElse_FailsNamingTheKeyAndTheChoices(string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            ConfigurationChoice.Read(Configuration(ExecutorOptions.RunnerKey, value), ExecutorOptions.RunnerKey, RunnerPlacement.InProcess));

        Assert.Equal($"Executor:Runner '{value}' is not supported; use 'InProcess' or 'Process'.", error.Message);
    }

    [Fact]
    public void Read_TheKeysAreTheDocumentedOnes()
    {
        Assert.Equal("Storage:Provider", StorageOptions.ProviderKey);
        Assert.Equal("Metadata:Provider", MetadataOptions.ProviderKey);
        Assert.Equal("Executor:Kind", ExecutorOptions.KindKey);
        Assert.Equal("Executor:Runner", ExecutorOptions.RunnerKey);
    }

    private static IConfiguration Configuration(string key, string value) =>
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build();
}
