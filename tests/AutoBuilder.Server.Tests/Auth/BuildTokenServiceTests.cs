using System.Security.Cryptography;
using AutoBuilder.Core;
using AutoBuilder.Server.Auth;

namespace AutoBuilder.Server.Tests.Auth;

public class BuildTokenServiceTests
{
    private readonly BuildTokenService _tokens = new(new ServerSecrets(RandomNumberGenerator.GetBytes(32)));

    [Fact]
    public void Verify_IssuedToken_NamesItsBuildAndAttempt()
    {
        var buildId = Ids.NewId();
        Assert.Equal((buildId, 3), _tokens.Verify(_tokens.Issue(buildId, 3)));
    }

    [Fact]
    public void Verify_TokenOfAnotherKey_IsRefused()
    {
        var other = new BuildTokenService(new ServerSecrets(RandomNumberGenerator.GetBytes(32)));
        Assert.Null(_tokens.Verify(other.Issue(Ids.NewId(), 1)));
    }

    [Fact]
    public void Verify_TokenWithChangedAttemptOrBuild_IsRefused()
    {
        var buildId = Ids.NewId();
        var parts = _tokens.Issue(buildId, 1).Split('.');
        Assert.Null(_tokens.Verify($"{parts[0]}.2.{parts[2]}"));
        Assert.Null(_tokens.Verify($"{Ids.NewId()}.1.{parts[2]}"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("a.b.c")]
    [InlineData("0123456789abcdef0123456789abcdef.0.xyz")]
    [InlineData("0123456789abcdef0123456789abcdef.-1.xyz")]
    [InlineData("0123456789abcdef0123456789abcdef.1.xyz.extra")]
    public void Verify_Garbage_IsRefused(string? token)
    {
        Assert.Null(_tokens.Verify(token));
    }

    [Fact]
    public void ServerSecrets_ShortKey_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => new ServerSecrets(new byte[16]));
    }

    [Fact]
    public void ServerSecrets_LoadTwiceFromDataFolder_KeepsTheKeyWithOwnerOnlyMode()
    {
        var folder = Directory.CreateTempSubdirectory("secrets-").FullName;
        try
        {
            var first = ServerSecrets.Load(null, folder);
            var second = ServerSecrets.Load(null, folder);

            Assert.Equal(first.BuildTokenKey, second.BuildTokenKey);
            Assert.NotEqual(first.BuildTokenKey, first.BlobSigningKey);
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(folder, "signing.key")));
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
