using AutoBuilder.Server.Auth;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AutoBuilder.Server.Tests.Auth;

/// <summary>Against the real metadata store (SQLite in a temp data folder), built by the server's own composition.</summary>
public sealed class ApiKeyServiceTests : IAsyncLifetime
{
    private readonly string _data = Directory.CreateTempSubdirectory("keys-").FullName;
    private WebApplication _app = null!;

    public async Task InitializeAsync()
    {
        _app = AutoBuilderServer.Build(new ServeRequest(_data, "http://127.0.0.1:0", ServerRole.Api));
        await _app.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        Directory.Delete(_data, recursive: true);
    }

    [Fact]
    public async Task CreateKey_StoresOnlyItsHash_AndFindsTheUserByKey()
    {
        await using var scope = _app.Services.CreateAsyncScope();
        var keys = scope.ServiceProvider.GetRequiredService<ApiKeyService>();
        var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();

        var (keyId, key) = await keys.CreateKeyAsync("alice", isAdmin: false);

        var stored = await db.ApiKeys.AsNoTracking().SingleAsync(k => k.Id == keyId);
        Assert.NotEqual(key, stored.Hash);
        Assert.DoesNotContain(key, stored.Hash, StringComparison.Ordinal);
        Assert.Equal("alice", (await keys.FindUserAsync(key))?.Name);
        Assert.Null(await keys.FindUserAsync(key + "x"));
    }

    [Fact]
    public async Task FindUser_RevokedKey_IsNull()
    {
        await using var scope = _app.Services.CreateAsyncScope();
        var keys = scope.ServiceProvider.GetRequiredService<ApiKeyService>();
        var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();
        var (keyId, key) = await keys.CreateKeyAsync("bob", isAdmin: false);

        await db.ApiKeys.Where(k => k.Id == keyId).ExecuteUpdateAsync(s => s.SetProperty(k => k.RevokedAt, DateTimeOffset.UtcNow));

        Assert.Null(await keys.FindUserAsync(key));
    }

    [Fact]
    public async Task Initialize_FirstStart_WritesAdminKeyThatAuthenticatesAsAdmin()
    {
        var key = (await File.ReadAllTextAsync(Path.Combine(_data, "admin.key"))).Trim();
        await using var scope = _app.Services.CreateAsyncScope();
        var user = await scope.ServiceProvider.GetRequiredService<ApiKeyService>().FindUserAsync(key);
        Assert.NotNull(user);
        Assert.True(user.IsAdmin);
        Assert.Equal("admin", user.Name);
    }
}
